package stats

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSumsAcrossWorkers has W workers each write their own shard while a
// non-worker writes through the Set and a reader takes snapshots: every
// snapshot's counters never decrease and the final sums are exact.
func TestSumsAcrossWorkers(t *testing.T) {
	const workers, perWorker = 4, 20_000
	s := NewSet(workers)
	reqs := s.Counter("requests_total", "h")
	bytes := s.Counter("bytes_total", "h")
	conns := s.Gauge("connections", "h")
	lat := s.DurationHistogram("latency_seconds", "h", []float64{0.001, 0.01})

	var stop atomic.Bool
	var readers sync.WaitGroup
	readers.Go(func() {
		var snap Snapshot
		var h HistogramValue
		var lastReqs, lastCount uint64
		for !stop.Load() {
			s.Snapshot(&snap)
			snap.Histogram(lat, &h)
			if r := snap.Counter(reqs); r < lastReqs {
				t.Errorf("requests went down: %d after %d", r, lastReqs)
			} else {
				lastReqs = r
			}
			if h.Count < lastCount || h.Buckets[0] > h.Buckets[1] || h.Buckets[1] > h.Count {
				t.Errorf("histogram not cumulative or went down: %v count %d after %d", h.Buckets, h.Count, lastCount)
			}
			lastCount = h.Count
		}
	})

	var writers sync.WaitGroup
	for w := range workers {
		writers.Go(func() {
			sh := s.Shard(w)
			for i := range perWorker {
				sh.AddGauge(conns, 1)
				sh.Inc(reqs)
				sh.Add(bytes, uint64(i%100))
				sh.ObserveNanos(lat, int64(i%3)*int64(5*time.Millisecond)) // 0, 5ms, 10ms
				sh.AddGauge(conns, -1)
			}
			sh.AddGauge(conns, int64(w)) // leave w open
		})
	}
	writers.Go(func() {
		for range perWorker {
			s.Add(reqs, 1)
			s.Observe(lat, int64(time.Second))
			s.AddGauge(conns, 1)
		}
	})
	writers.Wait()
	stop.Store(true)
	readers.Wait()

	const total = (workers + 1) * perWorker
	if got := s.CounterValue(reqs); got != total {
		t.Errorf("requests %d, want %d", got, total)
	}
	wantBytes := uint64(0)
	for i := range perWorker {
		wantBytes += uint64(i % 100)
	}
	if got := s.CounterValue(bytes); got != workers*wantBytes {
		t.Errorf("bytes %d, want %d", got, workers*wantBytes)
	}
	if got, want := s.GaugeValue(conns), int64(0+1+2+3+perWorker); got != want {
		t.Errorf("connections %d, want %d", got, want)
	}
	var snap Snapshot
	var h HistogramValue
	s.Snapshot(&snap)
	snap.Histogram(lat, &h)
	// i%3 == 0 in the 0.001 bucket, 5ms and 10ms in the 0.01 one, 1s in +Inf.
	zeros := uint64(workers * ((perWorker + 2) / 3))
	if h.Buckets[0] != zeros || h.Buckets[1] != workers*perWorker || h.Count != total {
		t.Errorf("histogram buckets %v count %d, want [%d %d] %d", h.Buckets, h.Count, zeros, workers*perWorker, total)
	}
}

// addChunk adds eight counters at a time and skips eight zeros: every
// pattern of zero and nonzero groups sums as adding one by one does.
func TestAddChunkSkipsOnlyZeros(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var dst, src, want vecChunk
		for j := range dst {
			dst[j] = r.Uint64N(1000)
			if r.IntN(3) == 0 { // sparse, as a route's code slots are
				src[j] = r.Uint64N(1000)
			}
			if j/8 == r.IntN(8) { // a group with one counter set
				src[j] = 1
			}
			want[j] = dst[j] + src[j]
		}
		addChunk(&dst, &src)
		if dst != want {
			t.Fatalf("got %v\nwant %v\nsrc %v", dst, want, src)
		}
	}
}
