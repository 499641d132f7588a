package main

import (
	"bufio"
	"io"
	"net/http"
	"testing"
)

// repeatReader serves its response forever, one Read per copy, as a
// kept-alive upstream answering every request would.
type repeatReader struct{ response []byte }

func (r *repeatReader) Read(p []byte) (int, error) { return copy(p, r.response), nil }

// BenchmarkReadResponse compares the reader with what the old rateload did
// per response (net/http.ReadResponse, then io.Copy of the body).
func BenchmarkReadResponse(b *testing.B) {
	for _, tc := range []struct{ name, resp string }{
		{"nginx", nginxResponse},
		{"chunked", goChunked},
	} {
		b.Run("impl=rateload/"+tc.name, func(b *testing.B) {
			rr := newResponseReader(&repeatReader{[]byte(tc.resp)}, readBufferSize)
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.resp)))
			for b.Loop() {
				if _, err := rr.readResponse(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("impl=net-http/"+tc.name, func(b *testing.B) {
			br := bufio.NewReader(&repeatReader{[]byte(tc.resp)})
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.resp)))
			for b.Loop() {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
