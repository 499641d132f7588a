package main

import (
	"io"

	"github.com/sluice-gw/sluice/http1"
)

// readBufferSize holds any head the test upstreams send (nginx's, Go's, the
// gateway's are a few hundred bytes) and reads bodies in pieces this large.
const readBufferSize = 16 << 10

// maxEmptyReads bounds Reads that return neither bytes nor an error, as
// bufio does, so a broken io.Reader cannot spin the client forever.
const maxEmptyReads = 100

// responseReader reads the responses to GETs off one kept-alive connection
// and discards their bodies, without allocating: a GC cycle in the client
// would stall every connection's goroutine at once and show as server
// latency. The head is parsed by http1.Response (the gateway's own parser,
// fuzzed against net/http there), chunked bodies by http1.ChunkedDecoder.
//
// A responseReader is not safe for concurrent use; it owns its buffer.
type responseReader struct {
	src    io.Reader
	buf    []byte
	r, w   int // unread bytes are buf[r:w]
	head   http1.Response
	chunks http1.ChunkedDecoder
}

func newResponseReader(src io.Reader, size int) *responseReader {
	rr := &responseReader{src: src, buf: make([]byte, size)}
	rr.head.Limits.MaxHeadBytes = size
	rr.head.Reset()
	return rr
}

// readResponse reads one final response (skipping 1xx interim ones) and
// discards its body, leaving the stream at the next response. It returns the
// status; on an error the connection is unusable (see errors.go).
func (rr *responseReader) readResponse() (status int, err error) {
	for {
		if err := rr.readHead(); err != nil {
			return 0, err
		}
		if rr.head.Status == 101 {
			return rr.head.Status, errUpgrade
		}
		if rr.head.Status >= 200 {
			break
		}
	}
	switch rr.head.Body {
	case http1.BodyLength:
		err = rr.discard(rr.head.ContentLength)
	case http1.BodyChunked:
		err = rr.discardChunked()
	case http1.BodyUntilClose:
		err = errBodyUntilClose
	}
	if err == nil && !rr.head.KeepAlive {
		err = errNotKeepAlive
	}
	return rr.head.Status, err
}

// readHead parses the next head, reading until it is complete. Parse resumes
// where it stopped, so a head arriving in pieces is not rescanned.
func (rr *responseReader) readHead() error {
	rr.head.Reset()
	for {
		n, err := rr.head.Parse(rr.buf[rr.r:rr.w], http1.MethodGET)
		if err != nil {
			return err
		}
		if n > 0 {
			rr.r += n
			return nil
		}
		if err := rr.fill(); err != nil {
			return err
		}
	}
}

// discard skips n body bytes: those already buffered, then reads straight
// over the buffer.
func (rr *responseReader) discard(n int64) error {
	for {
		if avail := int64(rr.w - rr.r); n <= avail {
			rr.r += int(n)
			return nil
		} else {
			n -= avail
		}
		rr.r, rr.w = 0, 0
		if err := rr.fill(); err != nil {
			return err
		}
	}
}

func (rr *responseReader) discardChunked() error {
	rr.chunks.Reset()
	for {
		n, _, err := rr.chunks.Decode(rr.buf[rr.r:rr.w])
		rr.r += n
		if err != nil {
			return err
		}
		if rr.chunks.Done() {
			return nil
		}
		if n == 0 {
			if err := rr.fill(); err != nil {
				return err
			}
		}
	}
}

// fill reads at least one byte after buf[:w], moving the unread bytes to the
// front first when the buffer's tail is full. A head being parsed moves with
// them: Parse's state holds offsets from the slice it is given, which starts
// at r.
func (rr *responseReader) fill() error {
	if rr.r == rr.w {
		rr.r, rr.w = 0, 0
	} else if rr.w == len(rr.buf) {
		if rr.r == 0 {
			return errBufferFull
		}
		rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r = 0
	}
	for range maxEmptyReads {
		n, err := rr.src.Read(rr.buf[rr.w:])
		rr.w += n
		if n > 0 {
			return nil
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}
