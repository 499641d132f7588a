package shm

import (
	"strconv"
	"sync/atomic"
	"testing"
)

// floorLink is one link of BenchmarkIncrLadder's pointer chain: a separate
// allocation of one cache line, as each hop of the dict's path is (the
// shard, the index table, the entry segment, the entry, the cell slab).
type floorLink struct {
	next *floorLink
	n    atomic.Int64
	_    [48]byte
}

// floorChain returns the first of n+1 separately allocated links, each
// pointing to the next; the last one's counter is the one to add to.
func floorChain(n int) *floorLink {
	last := new(floorLink)
	for range n {
		last = &floorLink{next: last}
	}
	return last
}

// floorChase follows n links from p and adds 1 to the counter of the link
// it reaches, returning the new value: n dependent loads, then one locked
// add on an address the last load produced.
//
//go:noinline
func floorChase(p *floorLink, n int) int64 {
	for range n {
		p = p.next
	}
	return p.n.Add(1)
}

// BenchmarkIncrLadder measures what a lock-free Incr of an existing counter
// costs at least on this machine, rung by rung, beside Incr itself (the
// same key as BenchmarkIncr/shm/one-key, everything in L1): the key's hash
// alone; one atomic add on a word in cache; the same add after n = 1..7
// dependent loads through pointers (each link its own allocation, as the
// dict's hops are), called out of line like the real path; and the hash
// feeding the first link, then 7 loads, then the add: the dict's chain
// (hash → shard → index table → bucket → entry segment → entry → cell slab
// → cell) with nothing else.
//
// The first rung, cycles-80, is a calibration: 20 dependent multiply-adds
// (BenchmarkParallelFloor's loop body), 80 cycles at a 3-cycle multiply and
// a 1-cycle add, so ns per cycle is its figure over 80.
//
// Each iteration starts again from the same root, so what carries over from
// one to the next is only the locked add, which on x86 waits for every
// earlier instruction to retire and holds back the loads after it.
func BenchmarkIncrLadder(b *testing.B) {
	key := counterKeys[0]
	var sink uint64
	b.Run("cycles-80", func(b *testing.B) {
		b.ReportAllocs()
		x := uint64(1)
		cpu := startThreadCPU()
		for b.Loop() {
			for range 20 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		cpu.report(b)
		sink += x
	})
	b.Run("hash", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startThreadCPU()
		for b.Loop() {
			sink += hashKey(key)
		}
		cpu.report(b)
	})
	b.Run("atomic-add", func(b *testing.B) {
		var c atomic.Int64
		b.ReportAllocs()
		cpu := startThreadCPU()
		for b.Loop() {
			c.Add(1)
		}
		cpu.report(b)
	})
	for n := 0; n <= 7; n++ {
		root := floorChain(n)
		b.Run("loads-"+strconv.Itoa(n)+"+atomic-add", func(b *testing.B) {
			b.ReportAllocs()
			cpu := startThreadCPU()
			for b.Loop() {
				floorChase(root, n)
			}
			cpu.report(b)
		})
	}
	// The hash picks the root (always roots[0]: zero is 0, but the
	// compiler cannot know), so the loads wait for the hash as the dict's do.
	roots := []*floorLink{floorChain(7)}
	zero := uint64(len(roots) - 1)
	b.Run("hash+loads-7+atomic-add", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startThreadCPU()
		for b.Loop() {
			floorChase(roots[hashKey(key)&zero], 7)
		}
		cpu.report(b)
	})
	d := mustNew(b, 64<<20)
	fill(dictKV{d})
	b.Run("incr", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startThreadCPU()
		for b.Loop() {
			_, _ = d.Incr(key, 1, 0, 0)
		}
		cpu.report(b)
	})
	parallelFloorSink.Add(sink)
}
