package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// Responses as the test upstreams send them: nginx's return 200, Go's
// net/http with a small write (Content-Length) and a large one (chunked).
const (
	nginxResponse   = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 08:10:02 GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!"
	goSmallResponse = "HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 08:10:02 GMT\r\nContent-Length: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsvc-a"
	noContent       = "HTTP/1.1 204 No Content\r\n\r\n"
	goChunked       = "HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 08:10:02 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n"
)

type readCase struct {
	name   string
	in     string
	size   int   // read buffer; 0: readBufferSize
	status []int // of each response, in order
	err    error // after them, instead of the next; nil: clean end of input
}

var readCases = []readCase{
	{name: "nginx", in: nginxResponse, status: []int{200}},
	{name: "go content-length", in: goSmallResponse, status: []int{200}},
	{name: "go chunked with extension and trailer", in: goChunked, status: []int{200}},
	{name: "pipelined three", in: nginxResponse + goChunked + goSmallResponse, status: []int{200, 200, 200}},
	{name: "no body on 204 and 304", in: "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", status: []int{204, 304}},
	{name: "interim 100 skipped", in: "HTTP/1.1 100 Continue\r\n\r\n" + nginxResponse, status: []int{200}},
	{name: "error status still framed", in: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy" + nginxResponse, status: []int{503, 200}},
	{name: "body larger than the buffer", in: "HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + strings.Repeat("x", 300) + noContent, size: 64, status: []int{200, 204}},
	{name: "chunk larger than the buffer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n12c\r\n" + strings.Repeat("x", 300) + "\r\n0\r\n\r\n", size: 64, status: []int{200}},
	{name: "until close refused", in: "HTTP/1.1 200 OK\r\n\r\nall of it", err: errBodyUntilClose},
	{name: "connection close refused", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: nil, err: errNotKeepAlive},
	{name: "switching protocols refused", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", err: errUpgrade},
	{name: "head larger than the buffer", in: nginxResponse, size: 64, err: errBufferFull},
	{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", err: io.ErrUnexpectedEOF},
	{name: "truncated head", in: "HTTP/1.1 200 OK\r\nContent-Len", err: io.ErrUnexpectedEOF},
}

// readAll reads responses off src until an error and returns their statuses.
func readAll(src io.Reader, size int) ([]int, error) {
	rr := newResponseReader(src, size)
	var got []int
	for {
		status, err := rr.readResponse()
		if err != nil {
			if err == io.ErrUnexpectedEOF && rr.r == rr.w && rr.head.HeadLen == 0 && len(got) > 0 {
				return got, nil // input ended between responses
			}
			return got, err
		}
		got = append(got, status)
	}
}

func TestResponseReader(t *testing.T) {
	for _, tc := range readCases {
		size := tc.size
		if size == 0 {
			size = readBufferSize
		}
		for _, feed := range []struct {
			name string
			src  func() io.Reader
		}{
			{"whole", func() io.Reader { return strings.NewReader(tc.in) }},
			{"byte by byte", func() io.Reader { return iotest.OneByteReader(strings.NewReader(tc.in)) }},
		} {
			t.Run(tc.name+"/"+feed.name, func(t *testing.T) {
				got, err := readAll(feed.src(), size)
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				if tc.err == nil || tc.err == errNotKeepAlive || tc.err == errUpgrade {
					if len(got) != len(tc.status) {
						t.Fatalf("statuses %v, want %v", got, tc.status)
					}
					for i := range got {
						if got[i] != tc.status[i] {
							t.Fatalf("statuses %v, want %v", got, tc.status)
						}
					}
				}
			})
		}
	}
}

// A Read that returns nothing and no error forever must not spin the client.
func TestResponseReaderNoProgress(t *testing.T) {
	rr := newResponseReader(emptyReader{}, 64)
	if _, err := rr.readResponse(); err != io.ErrNoProgress {
		t.Fatalf("error %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }
