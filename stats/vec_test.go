package stats

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// TestVecGrowsWhileWorkersWrite grows a vector from the control plane, the
// way a config swap adds routes, while workers write to every index
// published so far and a reader snapshots: no write is lost or dropped, and
// no index's count goes down.
func TestVecGrowsWhileWorkersWrite(t *testing.T) {
	const workers, writes, maxLen = 4, 50_000, 1000
	s := NewSet(workers)
	routes := s.CounterVec("route_requests_total", "h", "route")
	var published atomic.Int64 // the "config snapshot": indexes [0, published) are in use
	published.Store(1)
	s.GrowVec(routes, 1)

	var stop atomic.Bool
	var bg sync.WaitGroup
	bg.Go(func() { // the control plane
		for n := 2; n <= maxLen && !stop.Load(); n += 1 + n/8 {
			s.GrowVec(routes, n)
			published.Store(int64(n))
		}
	})
	bg.Go(func() { // a scraper
		var snap Snapshot
		var last []uint64
		for !stop.Load() {
			s.Snapshot(&snap)
			v := snap.Vec(routes)
			for i := range min(len(v), len(last)) {
				if v[i] < last[i] {
					t.Errorf("index %d went down: %d after %d", i, v[i], last[i])
				}
			}
			last = append(last[:0], v...)
		}
	})

	want := make([][]uint64, workers)
	var writers sync.WaitGroup
	for w := range workers {
		want[w] = make([]uint64, maxLen)
		writers.Go(func() {
			sh := s.Shard(w)
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range writes {
				idx := r.IntN(int(published.Load()))
				sh.AddIndexed(routes, idx, 1)
				want[w][idx]++
			}
		})
	}
	writers.Wait()
	stop.Store(true)
	bg.Wait()

	var snap Snapshot
	s.Snapshot(&snap)
	got := snap.Vec(routes)
	sum := make([]uint64, len(got))
	for _, ws := range want {
		for i := range sum {
			sum[i] += ws[i]
		}
	}
	if !slices.Equal(got, sum) {
		t.Errorf("vector sums differ from what the workers wrote")
	}
	if d := snap.Dropped(); d != 0 {
		t.Errorf("%d writes dropped, want 0: growth reaches workers with the publication", d)
	}
}

func TestVecOutOfRangeIsDropped(t *testing.T) {
	s := NewSet(1)
	classes := s.CounterVec("responses_total", "h", "class", "1xx", "2xx", "3xx", "4xx", "5xx")
	sh := s.Shard(0)
	sh.AddIndexed(classes, 1, 3)
	sh.AddIndexed(classes, 5, 1)
	sh.AddIndexed(classes, -1, 1)
	s.AddIndexed(classes, 4, 2)
	s.AddIndexed(classes, 9, 1)
	var snap Snapshot
	s.Snapshot(&snap)
	if got := snap.Vec(classes); !slices.Equal(got, []uint64{0, 3, 0, 0, 2}) {
		t.Errorf("vector %v, want [0 3 0 0 2]", got)
	}
	if snap.Dropped() != 3 || s.Dropped() != 3 {
		t.Errorf("dropped %d (Set says %d), want 3", snap.Dropped(), s.Dropped())
	}
	s.GrowVec(classes, 200) // a second chunk
	sh.AddIndexed(classes, 199, 1)
	s.GrowVec(classes, 10) // never shrinks
	s.Snapshot(&snap)
	if v := snap.Vec(classes); len(v) != 200 || v[199] != 1 || v[1] != 3 {
		t.Errorf("after growth: len %d, [199]=%d [1]=%d, want 200, 1, 3", len(v), v[199], v[1])
	}
}

// TestSnapshotVecSumsOverStaleBuffers: a vector's sums are written, not
// added to a cleared buffer, so a reused Snapshot whose buffer holds
// anything gives the exact sums, over whole chunks and a partial last one,
// before and after the vector grows.
func TestSnapshotVecSumsOverStaleBuffers(t *testing.T) {
	s := NewSet(3)
	v := s.CounterVec("v_total", "h", "i")
	var snap Snapshot
	for _, n := range []int{200, 64, 1000} { // 3 chunks and a part; no growth; 16 chunks less 24
		s.GrowVec(v, n)
		for i := range n {
			s.Shard(i%3).AddIndexed(v, i, uint64(i))
			s.Shard(0).AddIndexed(v, i, 1)
			s.AddIndexed(v, i, 1000)
		}
		s.Snapshot(&snap)
		for i := range snap.vecs[v] {
			snap.vecs[v][i] = 0xdead // what a buffer reused from elsewhere holds
		}
		s.Snapshot(&snap)
		got := snap.Vec(v)
		if len(got) != s.VecLen(v) {
			t.Fatalf("grown to %d: %d sums, want %d", n, len(got), s.VecLen(v))
		}
		for i, sum := range got {
			var want uint64
			for _, sh := range s.shards {
				d := sh.vecs[v].Load()
				want += d.chunks[i/chunkLen][i%chunkLen]
			}
			if sum != want {
				t.Fatalf("grown to %d: index %d sums to %d, want %d", n, i, sum, want)
			}
		}
	}
}

// TestVecValueAgreesWithTheSnapshot: VecValue, what /status reads instead
// of a whole Snapshot, sums one index over the worker shards and the
// shared one, across chunks and growth, and reads 0 out of range.
func TestVecValueAgreesWithTheSnapshot(t *testing.T) {
	s := NewSet(2)
	v := s.CounterVec("routes_total", "h", "route", "a", "b")
	s.GrowVec(v, 130) // three chunks
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		idx, n := rng.IntN(130), uint64(rng.IntN(5)+1)
		switch rng.IntN(3) {
		case 0, 1:
			s.Shard(rng.IntN(2)).AddIndexed(v, idx, n)
		default:
			s.AddIndexed(v, idx, n)
		}
	}
	var snap Snapshot
	s.Snapshot(&snap)
	for idx, want := range snap.Vec(v) {
		if got := s.VecValue(v, idx); got != want {
			t.Fatalf("VecValue(%d) = %d, the snapshot says %d", idx, got, want)
		}
	}
	for _, idx := range []int{-1, 130, 1 << 20} {
		if got := s.VecValue(v, idx); got != 0 {
			t.Errorf("VecValue(%d) = %d out of range, want 0", idx, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { s.VecValue(v, 129) }); n != 0 {
		t.Errorf("VecValue allocates %v times", n)
	}
}
