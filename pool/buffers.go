package pool

import "github.com/valyala/bytebufferpool"

// Body buffers. Request and response bodies a policy holds whole (ReadBody,
// BufferResponse) come from here and go back when the request ends.
// bytebufferpool calibrates what it hands out to the sizes in use and lets
// the rare huge buffer go, so one 8 MiB upload does not stay pinned to a
// worker. Unlike the keep-alive pool, these functions are safe for
// concurrent use (a sync.Pool underneath).

var bodies bytebufferpool.Pool

// GetBuffer returns an empty buffer.
func GetBuffer() *bytebufferpool.ByteBuffer { return bodies.Get() }

// PutBuffer gives b back; b must not be used afterwards. b.B may have been
// grown (or replaced by a grown copy) by its user.
func PutBuffer(b *bytebufferpool.ByteBuffer) { bodies.Put(b) }
