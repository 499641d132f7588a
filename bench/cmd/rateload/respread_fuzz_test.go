package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"testing/iotest"
)

// maxSplitLen bounds the inputs read at every split point (quadratic);
// splitBuffer holds any of them, so that the split reads do not each
// allocate a full-size buffer and stall the fuzzer.
const (
	maxSplitLen = 1024
	splitBuffer = 2 * maxSplitLen
)

// readOne reads one response off data through src's chunking and returns
// the status, the error and how many bytes of data it consumed.
func readOne(src io.Reader, size int) (status int, consumed int, err error) {
	c := &countingReader{src: src}
	rr := newResponseReader(c, size)
	status, err = rr.readResponse()
	return status, c.n - (rr.w - rr.r), err
}

type countingReader struct {
	src io.Reader
	n   int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	c.n += n
	return n, err
}

// splitReader returns data[:at] in its first Read, then the rest.
type splitReader struct {
	data []byte
	at   int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := len(s.data)
	if s.at > 0 && s.at < n {
		n = s.at
	}
	n = copy(p, s.data[:n])
	s.data, s.at = s.data[n:], s.at-n
	return n, nil
}

// FuzzResponseReader checks the reader against net/http.ReadResponse where
// both accept a final, framed, kept-alive response (same status, same bytes
// consumed, so the next response starts where net/http's would), and that
// the result does not depend on how the bytes arrive: split at every point,
// byte by byte, and through a buffer small enough to be compacted.
func FuzzResponseReader(f *testing.F) {
	for _, tc := range readCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		status, n, err := readOne(bytes.NewReader(data), readBufferSize)
		if err == nil && (n < 0 || n > len(data)) {
			t.Fatalf("consumed %d of %d", n, len(data))
		}
		compareWithNetHTTP(t, data, status, n, err)
		if len(data) > maxSplitLen {
			return
		}
		check := func(how string, s2 int, n2 int, err2 error) {
			t.Helper()
			if s2 != status || !errors.Is(err2, err) || (err == nil && n2 != n) {
				t.Fatalf("%s: (%d, %d, %v), one-shot (%d, %d, %v)", how, s2, n2, err2, status, n, err)
			}
		}
		for i := 1; i < len(data); i++ {
			s2, n2, err2 := readOne(&splitReader{data: data, at: i}, splitBuffer)
			check("split", s2, n2, err2)
		}
		s2, n2, err2 := readOne(iotest.OneByteReader(bytes.NewReader(data)), splitBuffer)
		check("byte by byte", s2, n2, err2)
		// A small buffer compacts and reads bodies over itself; heads that
		// fit it must read the same as with the large buffer.
		s2, n2, err2 = readOne(bytes.NewReader(data), 128)
		if !errors.Is(err2, errBufferFull) && !errors.Is(err2, io.ErrUnexpectedEOF) {
			check("128-byte buffer", s2, n2, err2)
		}
	})
}

func compareWithNetHTTP(t *testing.T, data []byte, status, n int, err error) {
	t.Helper()
	src := bytes.NewReader(data)
	br := bufio.NewReaderSize(src, len(data)+16)
	req, _ := http.NewRequest("GET", "http://x/", nil)
	resp, herr := http.ReadResponse(br, req)
	if herr != nil {
		return
	}
	_, herr = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if herr != nil || resp.StatusCode < 200 || resp.StatusCode == 101 || resp.Close || resp.ProtoMinor != 1 || resp.ProtoMajor != 1 {
		return // not a response rateload must read, or read differently by design (1xx skipped)
	}
	if resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && bodyAllowed(resp.StatusCode) {
		return // until close: refused by design
	}
	if err != nil {
		return // stricter than net/http: the head parser's own fuzz test covers where
	}
	hn := len(data) - br.Buffered() - src.Len()
	if status != resp.StatusCode || n != hn {
		t.Fatalf("status %d consumed %d; net/http: status %d consumed %d", status, n, resp.StatusCode, hn)
	}
}

func bodyAllowed(status int) bool { return status != 204 && status != 304 && status >= 200 }
