package stats

import (
	"math"
	"sync/atomic"
)

// Snapshot holds every metric of a Set summed over its shards, for one
// scrape. Reuse one Snapshot across scrapes: once its buffers have grown,
// Set.Snapshot fills it without allocating. A Snapshot is not safe for
// concurrent use; the slices its methods return are views into it, valid
// until the next Set.Snapshot into it (copy them to keep them).
type Snapshot struct {
	set   *Set
	slots []uint64   // summed scalar slots; histogram sum words are unused
	sums  []float64  // per histogram, integer units
	vecs  [][]uint64 // per vector, per index
}

// Snapshot sums every shard into dst, from any goroutine, without locks.
//
// It is not one instant's picture: shards are read one after the other
// while workers keep writing, so a sum may miss writes in flight and two
// metrics may be read microseconds apart. Each word is read atomically, so
// no value is torn, and as each shard's counters only grow, a counter's sum
// never goes down from one snapshot to the next. A histogram's Count is
// always the sum of its buckets; its Sum may lag or lead them by the
// observations in flight.
func (s *Set) Snapshot(dst *Snapshot) {
	s.sealOnce()
	dst.set = s
	dst.slots = resize(dst.slots, s.slots)
	for _, sh := range s.shards {
		for i := range dst.slots {
			dst.slots[i] += atomic.LoadUint64(&sh.slots[i])
		}
	}
	dst.sums = resize(dst.sums, len(s.hists))
	for i := range s.hists {
		w := s.hists[i].sumSlot()
		for _, sh := range s.shards {
			dst.sums[i] += math.Float64frombits(atomic.LoadUint64(&sh.slots[w]))
		}
	}
	if cap(dst.vecs) < len(s.vecs) {
		dst.vecs = make([][]uint64, len(s.vecs)) // not resize: keep the inner buffers
	}
	dst.vecs = dst.vecs[:len(s.vecs)]
	for i, v := range s.vecs {
		sums := resize(dst.vecs[i], int(v.size.Load()))
		for _, sh := range s.shards {
			addDir(sums, sh.vecs[i].Load())
		}
		dst.vecs[i] = sums
	}
}

// addDir adds a shard's vector counters to sums, up to the shorter of the
// two (a directory is never shorter than the size loaded before it).
func addDir(sums []uint64, d *vecDir) {
	sums = sums[:min(len(sums), d.n)]
	for c := 0; len(sums) > 0; c++ {
		chunk := d.chunks[c]
		k := min(len(sums), chunkLen)
		for j := range k {
			sums[j] += atomic.LoadUint64(&chunk[j])
		}
		sums = sums[k:]
	}
}

// resize returns buf with length n, zeroed, reusing its memory if it can.
func resize[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// Counter returns counter id's sum.
func (sn *Snapshot) Counter(id CounterID) uint64 { return sn.slots[id] }

// Gauge returns gauge id's sum.
func (sn *Snapshot) Gauge(id GaugeID) int64 { return int64(sn.slots[id]) }

// Vec returns vector id's counters by index, a view valid until the next
// Set.Snapshot into sn.
func (sn *Snapshot) Vec(id VecID) []uint64 { return sn.vecs[id] }

// Dropped returns the AddIndexed writes dropped for an index out of range.
func (sn *Snapshot) Dropped() uint64 { return sn.slots[0] }

// Histogram fills dst with histogram id: cumulative buckets, count and sum,
// ready for prometheus.MustNewConstHistogram. dst.Buckets is reused, so a
// caller that keeps one HistogramValue allocates nothing once it has grown.
func (sn *Snapshot) Histogram(id HistogramID, dst *HistogramValue) {
	h := &sn.set.hists[id]
	dst.Bounds = h.bounds
	dst.Buckets = resize(dst.Buckets, len(h.limits))
	var cum uint64
	for i := range dst.Buckets {
		cum += sn.slots[h.off+i]
		dst.Buckets[i] = cum
	}
	dst.Count = cum + sn.slots[h.off+len(h.limits)]
	dst.Sum = sn.sums[id] / h.scale
}
