package engine

import "github.com/sluice-gw/sluice/http1"

// framing is how a message body ends.
type framing uint8

const (
	frameNone       framing = iota // no body
	frameLength                    // Content-Length bytes
	frameChunked                   // chunked coding, ended by the last chunk and trailers
	frameUntilClose                // read until the peer closes (responses only)
)

// bodyFramer tracks where a streamed body ends, so the engine can relay it
// without holding it and know when the message is over.
type bodyFramer struct {
	kind framing
	left int64 // frameLength: bytes still to come
	dec  http1.ChunkedDecoder
}

func (f *bodyFramer) reset(kind framing, length int64) {
	f.kind = kind
	f.left = length
	if kind == frameLength && length <= 0 {
		f.kind = frameNone
	}
	if kind == frameChunked {
		f.dec.Reset()
	}
}

func (f *bodyFramer) done() bool {
	switch f.kind {
	case frameNone:
		return true
	case frameLength:
		return f.left == 0
	case frameChunked:
		return f.dec.Done()
	}
	return false
}

// take returns how many leading bytes of src belong to the body (chunk
// framing included, so they can be relayed verbatim) and whether the body
// ended with them. Bytes after the body are not taken.
func (f *bodyFramer) take(src []byte) (n int, done bool, err error) {
	switch f.kind {
	case frameNone:
		return 0, true, nil
	case frameLength:
		n = len(src)
		if int64(n) > f.left {
			n = int(f.left)
		}
		f.left -= int64(n)
		return n, f.left == 0, nil
	case frameUntilClose:
		return len(src), false, nil
	}
	for n < len(src) && !f.dec.Done() {
		m, _, err := f.dec.Decode(src[n:])
		if err != nil {
			return n, false, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, f.dec.Done(), nil
}

// takeData is take for a receiver that wants the payload without chunk
// framing (an HTTP/1.0 client of a chunked response). It consumes one step:
// n bytes of src, of which data is payload (possibly empty).
func (f *bodyFramer) takeData(src []byte) (n int, data []byte, done bool, err error) {
	if f.kind != frameChunked {
		n, done, err = f.take(src)
		return n, src[:n], done, err
	}
	if f.dec.Done() {
		return 0, nil, true, nil
	}
	n, data, err = f.dec.Decode(src)
	return n, data, f.dec.Done(), err
}
