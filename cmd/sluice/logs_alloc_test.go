//go:build !race

package main

import (
	"testing"
)

// TestLogLinesDoNotAllocate pins the promise of logs.go: once the ring's
// buffers have grown, formatting and queueing a line allocates nothing.
func TestLogLinesDoNotAllocate(t *testing.T) {
	r := &fakeRecord{status: 200, path: "/v1/items", ua: "curl/8.0", trace: "4bf92f3577b34da6a3ce929d0e0e4736"}
	var buf []byte
	var stamp stampCache
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"appendJSONLine", func() { buf = appendJSONLine(buf[:0], r, &stamp) }},
		{"appendJSONFields", func() {
			buf = appendJSONFields(buf[:0], r, &stamp, logFields([]string{"status", "path", "user_agent", "trace_id"}))
		}},
		{"appendTextLine", func() { buf = appendTextLine(buf[:0], r) }},
	} {
		tc.fn()
		if n := testing.AllocsPerRun(1000, tc.fn); n != 0 {
			t.Errorf("%s: %v allocs per line", tc.name, n)
		}
	}
	sink := &memSink{block: make(chan struct{})} // stuck: the ring fills, then drops
	l := startLogger(sink, 1, 64, true)
	defer func() { close(sink.block); l.close() }()
	for range 200 {
		l.record(r)
	}
	if n := testing.AllocsPerRun(1000, func() { l.record(r) }); n != 0 {
		t.Errorf("record: %v allocs per line", n)
	}
}
