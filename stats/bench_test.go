package stats

import (
	"sync/atomic"
	"testing"
)

// Each case runs serially and under b.RunParallel, where every goroutine
// takes its own shard as each worker owns one; run with -cpu 1,2,... The
// baselines are what the engine does today, one process-wide atomic that
// every worker adds to, and a process-wide histogram kept with atomics as
// client_golang keeps one (here the Set's shared shard): their cost grows
// with the cores fighting over their cache lines, a shard's does not.
// Every case pays the same indirect call to op (about 1 ns).

type benchCase struct {
	name string
	op   func(sh *Shard, i int)
}

func runCases(b *testing.B, s *Set, cases []benchCase) {
	for _, c := range cases {
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			sh, i := s.Shard(0), 0
			for b.Loop() {
				c.op(sh, i)
				i++
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				sh, i := s.Shard(int(next.Add(1)-1)%s.Workers()), 0
				for pb.Next() {
					c.op(sh, i)
					i++
				}
			})
		})
	}
}

// sharedCounter is the baseline, padded so only its users share its line.
var sharedCounter struct {
	_ [128]byte
	atomic.Uint64
	_ [128]byte
}

func BenchmarkAdd(b *testing.B) {
	s := NewSet(64)
	c := s.Counter("requests_total", "h")
	runCases(b, s, []benchCase{
		{"shared-atomic", func(_ *Shard, _ int) { sharedCounter.Add(1) }},
		{"shard", func(sh *Shard, _ int) { sh.Add(c, 1) }},
	})
}

func BenchmarkObserveNanos(b *testing.B) {
	s := NewSet(64)
	h := s.DurationHistogram("latency_seconds", "h", latencyBounds)
	// Latencies spread over the buckets, as a real mix would be.
	lat := [8]int64{2e6, 7e6, 20e6, 40e6, 90e6, 300e6, 1.2e9, 20e9}
	runCases(b, s, []benchCase{
		{"shared-atomic", func(_ *Shard, i int) { s.Observe(h, lat[i&7]) }},
		{"shard", func(sh *Shard, i int) { sh.ObserveNanos(h, lat[i&7]) }},
	})
}

func BenchmarkAddIndexed(b *testing.B) {
	s := NewSet(64)
	v := s.CounterVec("route_requests_total", "h", "route")
	s.GrowVec(v, 1000)
	runCases(b, s, []benchCase{
		{"shared-atomic", func(_ *Shard, i int) { s.AddIndexed(v, i%1000, 1) }},
		{"shard", func(sh *Shard, i int) { sh.AddIndexed(v, i%1000, 1) }},
	})
}

// BenchmarkSnapshot is a scrape: 8 workers, 50 counters, 10 histograms,
// a 1000-route vector.
func BenchmarkSnapshot(b *testing.B) {
	s := NewSet(8)
	for i := range 50 {
		s.Counter("c", "h", "i", string(rune('A'+i)))
	}
	for i := range 10 {
		s.DurationHistogram("h", "h", latencyBounds, "i", string(rune('A'+i)))
	}
	v := s.CounterVec("route_requests_total", "h", "route")
	s.GrowVec(v, 1000)
	var snap Snapshot
	b.ReportAllocs()
	for b.Loop() {
		s.Snapshot(&snap)
	}
}

// BenchmarkSnapshotRouteVec is the sums of a scrape of 10,000 routes: a
// route × code vector of 16,384 × 26 indexes (the engine grows it by
// powers of two) on 4 workers and the shared shard, 5 codes of each route
// counted.
func BenchmarkSnapshotRouteVec(b *testing.B) {
	s := NewSet(4)
	v := s.CounterVec("route_requests_total", "h", "route")
	s.GrowVec(v, 16384*26)
	for r := range 10000 {
		for _, code := range []int{0, 1, 5, 12, 20} {
			s.Shard(r%4).AddIndexed(v, r*26+code, 1)
		}
	}
	var snap Snapshot
	b.ReportAllocs()
	for b.Loop() {
		s.Snapshot(&snap)
	}
}

// BenchmarkSnapshotRouteVecEveryWorker is BenchmarkSnapshotRouteVec with
// every worker having served every route (5 codes each): no worker's
// chunk of the routes is all zeros, the sums' worst case.
func BenchmarkSnapshotRouteVecEveryWorker(b *testing.B) {
	s := NewSet(4)
	v := s.CounterVec("route_requests_total", "h", "route")
	s.GrowVec(v, 16384*26)
	for w := range 4 {
		for r := range 10000 {
			for _, code := range []int{0, 1, 5, 12, 20} {
				s.Shard(w).AddIndexed(v, r*26+code, 1)
			}
		}
	}
	var snap Snapshot
	b.ReportAllocs()
	for b.Loop() {
		s.Snapshot(&snap)
	}
}
