package lb

import (
	"encoding/binary"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// BenchmarkPick measures one pick per balancer, on one worker's picker, for
// a small and a large upstream, on the default coarse clock.
func BenchmarkPick(b *testing.B) {
	for _, n := range []int{3, 100} {
		for _, kind := range allKinds {
			b.Run(string(kind)+"/targets="+strconv.Itoa(n), func(b *testing.B) {
				u := newBenchUpstream(b, Config{Balancer: kind}, weightsFor(n)...)
				p := u.newPicker(1)
				keys := benchKeys()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := p.Pick(keys[i&1023], nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPickParallel runs one picker per goroutine, as one per event loop;
// the baseline shares one mutex-guarded smooth round-robin between the
// goroutines. The "+end" cases add Begin and End around each pick, whose
// atomics on shared targets are the real cost of a request's bookkeeping.
func BenchmarkPickParallel(b *testing.B) {
	const n = 10
	for _, withEnd := range []bool{false, true} {
		for _, kind := range allKinds {
			name := string(kind)
			if withEnd {
				name += "+end"
			}
			b.Run(name, func(b *testing.B) { benchParallel(b, kind, n, withEnd) })
		}
	}
	b.Run("baseline-mutex-round_robin", func(b *testing.B) {
		rr := newMutexRR(weightsFor(n))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rr.pick()
			}
		})
	})
}

func benchParallel(b *testing.B, kind BalancerKind, n int, withEnd bool) {
	{
		{
			u := newBenchUpstream(b, Config{Balancer: kind}, weightsFor(n)...)
			var seed sync.Mutex
			next := uint64(0)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				seed.Lock()
				next++
				p := u.newPicker(next)
				seed.Unlock()
				keys := benchKeys()
				for i := 0; pb.Next(); i++ {
					x, err := p.Pick(keys[i&1023], nil)
					if err != nil {
						b.Error(err)
						return
					}
					if withEnd {
						x.Begin()
						x.End(Outcome{Status: 200, Latency: 1000})
					}
				}
			})
		}
	}
}

// BenchmarkHashLookup compares the Maglev table with a ketama ring (160
// points per target, binary search), the usual alternative: the bare
// lookups, and our whole Pick (snapshot load, health check) beside them.
func BenchmarkHashLookup(b *testing.B) {
	for _, n := range []int{10, 100} {
		u := newBenchUpstream(b, Config{Balancer: Hash}, weightsFor(n)...)
		keys := benchKeys()
		b.Run("maglev/targets="+strconv.Itoa(n), func(b *testing.B) {
			p := u.newPicker(1)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := p.Pick(keys[i&1023], nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("maglev-lookup/targets="+strconv.Itoa(n), func(b *testing.B) {
			table := u.Snapshot().primary.table
			m := uint64(len(table))
			b.ReportAllocs()
			var sink uint32
			for i := 0; b.Loop(); i++ {
				slot, _ := mul64(xxhash.Sum64(keys[i&1023]), m)
				sink += table[slot]
			}
			_ = sink
		})
		b.Run("baseline-ketama/targets="+strconv.Itoa(n), func(b *testing.B) {
			ring := newKetama(u.Snapshot().Targets(), 160)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ring.lookup(keys[i&1023])
			}
		})
	}
}

// BenchmarkUpdate measures building a snapshot (the Maglev table for Hash).
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{10, 100} {
		for _, kind := range []BalancerKind{RoundRobin, Hash} {
			b.Run(string(kind)+"/targets="+strconv.Itoa(n), func(b *testing.B) {
				u, _ := newTestUpstream(b, Config{Balancer: kind})
				sp := specs(weightsFor(n)...)
				b.ReportAllocs()
				for b.Loop() {
					if err := u.Update(sp); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// newBenchUpstream is an upstream on the default clock.
func newBenchUpstream(b *testing.B, cfg Config, weights ...int) *Upstream {
	u, err := NewUpstream("bench", cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := u.Update(specs(weights...)); err != nil {
		b.Fatal(err)
	}
	return u
}

func weightsFor(n int) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = 1 + i%4
	}
	return w
}

func benchKeys() [][]byte {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = binary.LittleEndian.AppendUint64(nil, uint64(i)*0x9e3779b97f4a7c15)
	}
	return keys
}

// mutexRR is the simplest correct shared balancer: nginx's smooth weighted
// round-robin behind one mutex.
type mutexRR struct {
	mu      sync.Mutex
	weights []int64
	current []int64
	total   int64
}

func newMutexRR(weights []int) *mutexRR {
	rr := &mutexRR{weights: make([]int64, len(weights)), current: make([]int64, len(weights))}
	for i, w := range weights {
		rr.weights[i] = int64(w)
		rr.total += int64(w)
	}
	return rr
}

func (rr *mutexRR) pick() int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	best := 0
	for i, w := range rr.weights {
		rr.current[i] += w
		if rr.current[i] > rr.current[best] {
			best = i
		}
	}
	rr.current[best] -= rr.total
	return best
}

// ketama is a consistent-hash ring with points per target.
type ketama struct {
	hashes []uint64
	owner  []int
}

func newKetama(targets []*Target, points int) *ketama {
	type point struct {
		h uint64
		i int
	}
	var ps []point
	for i, t := range targets {
		for p := range points {
			ps = append(ps, point{xxhash.Sum64String(t.Addr + "#" + strconv.Itoa(p)), i})
		}
	}
	slices.SortFunc(ps, func(a, b point) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return 0
	})
	k := &ketama{hashes: make([]uint64, len(ps)), owner: make([]int, len(ps))}
	for i, p := range ps {
		k.hashes[i], k.owner[i] = p.h, p.i
	}
	return k
}

func (k *ketama) lookup(key []byte) int {
	h := xxhash.Sum64(key)
	i, _ := slices.BinarySearch(k.hashes, h)
	if i == len(k.hashes) {
		i = 0
	}
	return k.owner[i]
}
