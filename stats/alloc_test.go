//go:build !race

package stats

import (
	"testing"
	"time"
)

// The allocation promises, as tests: every write allocates nothing, and a
// scrape into a reused Snapshot and HistogramValue allocates nothing once
// they have grown.
func TestNoAllocs(t *testing.T) {
	s := NewSet(2)
	c := s.Counter("requests_total", "h")
	g := s.Gauge("connections", "h")
	lat := s.DurationHistogram("latency_seconds", "h", latencyBounds)
	size := s.Histogram("size_bytes", "h", []float64{100, 1000})
	v := s.CounterVec("route_requests_total", "h", "route")
	s.GrowVec(v, 300)
	sh := s.Shard(1)
	var snap Snapshot
	var hv HistogramValue
	tests := []struct {
		name string
		fn   func()
	}{
		{"Shard.Add", func() { sh.Add(c, 3) }},
		{"Shard.Inc", func() { sh.Inc(c) }},
		{"Shard.AddGauge", func() { sh.AddGauge(g, -1) }},
		{"Shard.ObserveNanos", func() { sh.ObserveNanos(lat, int64(30*time.Millisecond)) }},
		{"Shard.Observe", func() { sh.Observe(size, 512) }},
		{"Shard.AddIndexed", func() { sh.AddIndexed(v, 257, 1) }},
		{"Shard.AddIndexed out of range", func() { sh.AddIndexed(v, 300, 1) }},
		{"Set.Add", func() { s.Add(c, 1) }},
		{"Set.AddGauge", func() { s.AddGauge(g, 1) }},
		{"Set.Observe", func() { s.Observe(lat, 1) }},
		{"Set.AddIndexed", func() { s.AddIndexed(v, 5, 1) }},
		{"Set.CounterValue", func() { _ = s.CounterValue(c) }},
		{"Snapshot reused", func() { s.Snapshot(&snap) }},
		{"Snapshot.Histogram reused", func() { snap.Histogram(lat, &hv) }},
	}
	for _, tt := range tests {
		tt.fn() // warm up: a snapshot's buffers grow once
		if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
}
