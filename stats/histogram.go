package stats

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// HistogramID names a histogram registered with Set.Histogram or
// Set.DurationHistogram.
type HistogramID int32

// histLayout is where a histogram lives in a shard and how a value finds its
// bucket without float math.
type histLayout struct {
	// limits[i] is the largest integer value that falls in bucket i, that
	// is whose value in the bounds' unit is <= bounds[i] (Prometheus "le").
	// Strictly increasing.
	limits []int64
	// off is the slot of bucket 0. Buckets 0..len(limits) follow, the last
	// one +Inf, then one word holding the float64 sum in integer units.
	off int
	// scale converts integer units to the bounds' unit at read time: 1e9
	// for a DurationHistogram (nanoseconds to seconds), else 1.
	scale float64
	// bounds are the registered bounds, shared with the Desc.
	bounds []float64
}

// Histogram registers a histogram of integer values (bytes, items) with the
// given upper bounds, increasing and finite; the +Inf bucket is implicit.
// Observe it with Shard.Observe. A value v falls in the first bucket whose
// bound b has float64(v) <= b, as a Prometheus histogram fed float64(v)
// would count it.
func (s *Set) Histogram(name, help string, bounds []float64, labels ...string) HistogramID {
	return s.histogram(name, help, bounds, labels, false)
}

// DurationHistogram registers a latency histogram: bounds are in seconds
// (Prometheus' base unit), observations in nanoseconds with
// Shard.ObserveNanos, and a duration d falls in the first bucket whose bound
// b has d.Seconds() <= b, as the usual
// prometheus.Histogram.Observe(time.Since(t).Seconds()) would count it; a
// value exactly on a bound counts in that bound's bucket.
func (s *Set) DurationHistogram(name, help string, bounds []float64, labels ...string) HistogramID {
	return s.histogram(name, help, bounds, labels, true)
}

func (s *Set) histogram(name, help string, bounds []float64, labels []string, duration bool) HistogramID {
	toUnit, scale := func(v int64) float64 { return float64(v) }, 1.0
	if duration {
		toUnit, scale = func(v int64) float64 { return time.Duration(v).Seconds() }, 1e9
	}
	limits := make([]int64, len(bounds))
	for i, b := range bounds {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			panic(fmt.Sprintf("stats: %s: bound %v is not finite", name, b))
		}
		limits[i] = lastAtOrBelow(b, scale, toUnit)
		if i > 0 && limits[i] <= limits[i-1] {
			panic(fmt.Sprintf("stats: %s: bounds %v and %v are not increasing in integer units", name, bounds[i-1], b))
		}
	}
	id, bounds := len(s.hists), slices.Clone(bounds)
	s.register(Desc{Name: name, Help: help, Kind: KindHistogram, Labels: labels,
		Bounds: bounds, Duration: duration, ID: id})
	s.hists = append(s.hists, histLayout{limits: limits, off: s.slots, scale: scale, bounds: bounds})
	s.slots += len(limits) + 2 // buckets, +Inf, sum
	return HistogramID(id)
}

// lastAtOrBelow returns the largest int64 v with toUnit(v) <= b, toUnit being
// non-decreasing and close to v/scale: a guess from b*scale, corrected by the
// exact comparison readers will make. It saturates at the int64 range.
func lastAtOrBelow(b, scale float64, toUnit func(int64) float64) int64 {
	var v int64
	switch g := math.Floor(b * scale); {
	case g >= math.MaxInt64:
		v = math.MaxInt64
	case g <= math.MinInt64:
		v = math.MinInt64
	default:
		v = int64(g)
	}
	for v < math.MaxInt64 && toUnit(v+1) <= b {
		v++
	}
	for v > math.MinInt64 && toUnit(v) > b {
		v--
	}
	return v
}

// bucket returns the index of the first bucket whose limit is >= v, or
// len(limits) for +Inf: a binary search over integers.
func (h *histLayout) bucket(v int64) int {
	lo, hi := 0, len(h.limits)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if v <= h.limits[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

func (h *histLayout) sumSlot() int { return h.off + len(h.limits) + 1 }

// Observe records v, in the histogram's integer unit, in histogram id.
// Worker goroutine only; never blocks or allocates.
func (sh *Shard) Observe(id HistogramID, v int64) {
	sh.owned()
	h := &sh.hists[id]
	p := &sh.slots[h.off+h.bucket(v)]
	storeOwned(p, *p+1)
	sum := &sh.slots[h.sumSlot()]
	storeOwned(sum, math.Float64bits(math.Float64frombits(*sum)+float64(v)))
}

// ObserveNanos records a duration of ns nanoseconds in DurationHistogram id.
// Worker goroutine only; never blocks or allocates.
func (sh *Shard) ObserveNanos(id HistogramID, ns int64) { sh.Observe(id, ns) }

// Observe records v in histogram id from any goroutine, atomically, on the
// Set's shared shard. Workers use Shard.Observe.
func (s *Set) Observe(id HistogramID, v int64) {
	sh := s.shared()
	h := &sh.hists[id]
	atomic.AddUint64(&sh.slots[h.off+h.bucket(v)], 1)
	sum := &sh.slots[h.sumSlot()]
	for {
		old := atomic.LoadUint64(sum)
		if atomic.CompareAndSwapUint64(sum, old, math.Float64bits(math.Float64frombits(old)+float64(v))) {
			return
		}
	}
}

// HistogramValue is a histogram as Prometheus exposes it, filled by
// Snapshot.Histogram.
type HistogramValue struct {
	// Bounds are the upper bounds, the Set's own slice: do not modify.
	Bounds []float64
	// Buckets[i] counts the observations <= Bounds[i] (cumulative).
	Buckets []uint64
	// Count counts every observation: the +Inf bucket.
	Count uint64
	// Sum adds the observations in the bounds' unit (seconds for a
	// DurationHistogram). It is a float64, as in Prometheus: exact until
	// the total passes 2^53 integer units (104 days of nanoseconds).
	Sum float64
}
