//go:build !race

package main

import (
	"testing"
	"time"
)

// The per-request work of a connection's loop besides the read: the clock,
// the rule and the appends into the presized slices.
func TestNoAllocsConnLoop(t *testing.T) {
	const requests = 1000
	service := make([]time.Duration, requests)
	for i := range service {
		service[i] = ms
	}
	f := &fakeServer{response: nginxResponse}
	l := &connLoop{conn: f, resp: newResponseReader(f, readBufferSize), pace: f, now: f.now, request: []byte("GET / HTTP/1.1\r\n\r\n"),
		interval: 2 * ms, end: requests * 2 * ms,
		latency: make([]time.Duration, 0, requests), late: make([]time.Duration, 0, requests)}
	n := testing.AllocsPerRun(3, func() {
		f.clock, f.service = 0, service
		l.due, l.latency, l.late = 0, l.latency[:0], l.late[:0]
		l.run()
		if len(l.latency) != requests || l.errors != 0 {
			t.Fatalf("%d requests, %d errors", len(l.latency), l.errors)
		}
	})
	if n != 0 {
		t.Fatalf("connLoop.run: %v allocs per %d requests, want 0", n, requests)
	}
}
