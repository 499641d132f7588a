package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// latencyBounds are client_golang's DefBuckets, bounds that are not exact
// binary fractions, so a value on a bound tests the float comparison.
var latencyBounds = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func TestDurationBucketEdges(t *testing.T) {
	s := NewSet(1)
	h := s.DurationHistogram("lat", "h", latencyBounds)
	layout := &s.hists[h]
	tests := []struct {
		name string
		d    time.Duration
		want int // bucket index; len(bounds) is +Inf
	}{
		{"zero", 0, 0},
		{"negative", -time.Second, 0},
		{"exactly 5ms is le 0.005", 5 * time.Millisecond, 0},
		{"5ms and 1ns", 5*time.Millisecond + 1, 1},
		{"exactly 100ms", 100 * time.Millisecond, 4},
		{"exactly 250ms", 250 * time.Millisecond, 5},
		{"exactly 2.5s", 2500 * time.Millisecond, 8},
		{"exactly 10s", 10 * time.Second, 10},
		{"10s and 1ns is +Inf", 10*time.Second + 1, 11},
		{"max int64 is +Inf", math.MaxInt64, 11},
	}
	for _, tt := range tests {
		if got := layout.bucket(int64(tt.d)); got != tt.want {
			t.Errorf("%s: bucket %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestBucketsMatchPrometheus checks the integer search against the float
// comparison a Prometheus histogram makes (the first bound b with v <= b),
// for durations around every bound and at random.
func TestBucketsMatchPrometheus(t *testing.T) {
	s := NewSet(1)
	dur := s.DurationHistogram("lat", "h", []float64{-1, 1e-9, .005, .01, .025, 0.1, 0.3, 0.7, 1.1, 2.5, 9.3, 1e6})
	sizes := s.Histogram("size", "h", []float64{-3.5, 0, 99.9, 100, 1 << 20, 1e15})
	oracle := func(bounds []float64, v float64) int {
		for i, b := range bounds {
			if v <= b {
				return i
			}
		}
		return len(bounds)
	}
	check := func(id HistogramID, v int64, toUnit func(int64) float64) {
		h := &s.hists[id]
		if got, want := h.bucket(v), oracle(h.bounds, toUnit(v)); got != want {
			t.Fatalf("value %d (%v): bucket %d, Prometheus would count it in %d", v, toUnit(v), got, want)
		}
	}
	secs := func(v int64) float64 { return time.Duration(v).Seconds() }
	ints := func(v int64) float64 { return float64(v) }
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		id     HistogramID
		toUnit func(int64) float64
		scale  float64
	}{{dur, secs, 1e9}, {sizes, ints, 1}} {
		for _, b := range s.hists[c.id].bounds {
			center := int64(b * c.scale)
			for v := center - 3; v <= center+3; v++ {
				check(c.id, v, c.toUnit)
			}
		}
		for range 100_000 {
			check(c.id, r.Int64N(20e9)-1e9, c.toUnit)
		}
	}
}

func TestHistogramValue(t *testing.T) {
	s := NewSet(2)
	h := s.DurationHistogram("lat", "h", []float64{0.1, 1})
	b := s.Histogram("bytes", "h", []float64{100})
	s.Shard(0).ObserveNanos(h, int64(50*time.Millisecond))
	s.Shard(1).ObserveNanos(h, int64(100*time.Millisecond))
	s.Shard(1).ObserveNanos(h, int64(time.Second))
	s.Observe(h, int64(3*time.Second)) // the shared shard
	s.Shard(0).Observe(b, 100)
	s.Shard(1).Observe(b, 101)

	var snap Snapshot
	var v HistogramValue
	s.Snapshot(&snap)
	snap.Histogram(h, &v)
	if !slices.Equal(v.Buckets, []uint64{2, 3}) || v.Count != 4 || math.Abs(v.Sum-4.15) > 1e-12 {
		t.Errorf("duration histogram: buckets %v count %d sum %v, want [2 3] 4 4.15", v.Buckets, v.Count, v.Sum)
	}
	if !slices.Equal(v.Bounds, []float64{0.1, 1}) {
		t.Errorf("bounds %v", v.Bounds)
	}
	snap.Histogram(b, &v)
	if !slices.Equal(v.Buckets, []uint64{1}) || v.Count != 2 || v.Sum != 201 {
		t.Errorf("bytes histogram: buckets %v count %d sum %v, want [1] 2 201", v.Buckets, v.Count, v.Sum)
	}
}

func TestHistogramWithoutBounds(t *testing.T) {
	s := NewSet(1)
	h := s.Histogram("n", "h", nil)
	s.Shard(0).Observe(h, 7)
	var snap Snapshot
	var v HistogramValue
	s.Snapshot(&snap)
	snap.Histogram(h, &v)
	if len(v.Buckets) != 0 || v.Count != 1 || v.Sum != 7 {
		t.Errorf("buckets %v count %d sum %v, want [] 1 7", v.Buckets, v.Count, v.Sum)
	}
}
