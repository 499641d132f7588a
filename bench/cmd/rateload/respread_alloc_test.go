//go:build !race

package main

import "testing"

// The reader is what runs per request in the client; a single allocation
// per request would bring GC pauses back into the measured latency.
func TestNoAllocsReadResponse(t *testing.T) {
	for _, resp := range []string{nginxResponse, goChunked} {
		rr := newResponseReader(&repeatReader{[]byte(resp)}, readBufferSize)
		n := testing.AllocsPerRun(1000, func() {
			if status, err := rr.readResponse(); err != nil || status != 200 {
				t.Fatal(status, err)
			}
		})
		if n != 0 {
			t.Fatalf("readResponse of %.30q: %v allocs, want 0", resp, n)
		}
	}
}
