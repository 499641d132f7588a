//go:build !race && !purego

package shm

import (
	"sync/atomic"
	"unsafe"
)

// The memory accesses of the seqlocks (entries, index buckets, arena bytes),
// for amd64 outside the race detector. portable.go has the same API for
// every other build.
//
// amd64 is TSO: a core's stores become visible to other cores in program
// order, and loads are not reordered with other loads. A seqlock writer
// therefore needs no fence between its stores (seq odd, data, seq even), and
// a reader that loads seq, then the data, then seq again reads the data
// between the two: what the Linux kernel's seqlock does on x86, where
// smp_wmb and smp_rmb are compiler barriers only. In Go terms:
//
//   - the compiler keeps stores in program order and never drops one that a
//     later load may observe; a writer's data stores sit between two loads of
//     seq (beginWrite and endWrite read it back), so none of them, and
//     neither seq store, is merged or dropped;
//   - readers load seq and every single word they use with sync/atomic
//     loads (plain MOVs on amd64, but ordered by the compiler like the
//     stores); they copy values with memmove, a call the compiler cannot
//     move past those loads, and compare keys with plain loads whose result
//     decides a branch taken before the closing load of seq;
//   - the plain stores race with the readers' loads in the memory model's
//     sense, which Go defines for word-sized accesses (a load sees some
//     stored value) and which the seqlock makes harmless (a torn copy fails
//     validation). The race detector would flag them, so race builds use
//     the portable variant, whose every shared access is atomic.
//
// What this buys: on amd64 every sync/atomic store is an XCHG, a locked
// instruction of 7-10 ns on the machines Sluice was measured on; a Set wrote
// a dozen of them (seq twice, fields, arena words, index buckets) and a
// compaction one per moved word. Read-modify-writes that race with other
// writers (the CLOCK bit, counter cells) stay atomic.
//
// Build with -tags purego to use the portable variant on amd64: run the
// tests that way too, to exercise it without the race detector.

// word is one seqlock-protected word: atomic loads and compare-and-swap,
// plain stores. Only the holder of the shard lock stores.
type word struct{ v uint64 }

func (w *word) Load() uint64 { return atomic.LoadUint64(&w.v) }

// Store is a plain store: see above for why that is enough.
func (w *word) Store(x uint64) { w.v = x }

func (w *word) CompareAndSwap(old, new uint64) bool {
	return atomic.CompareAndSwapUint64(&w.v, old, new)
}

// storeWord stores one arena word. The caller holds the shard lock.
func (a arena) storeWord(i int, w uint64) { a.words[i] = w }

// writeBytes stores b at byte offset off. The caller holds the shard lock
// and brackets the change with its entry's seqlock.
func (a arena) writeBytes(off int, b []byte) { copy(a.bytes()[off:], b) }

// moveBytes copies n bytes from byte offset from to byte offset to
// (to <= from, the ranges may overlap), for compaction.
func (a arena) moveBytes(to, from, n uint32) {
	b := a.bytes()
	copy(b[to:to+n], b[from:from+n])
}

// appendBytes appends the n bytes at byte offset off to dst. The caller
// bounds-checked off+n against the arena and validates the bytes with its
// entry's seqlock afterwards.
func (a arenaRef) appendBytes(dst []byte, off uint64, n int) []byte {
	// Sliced from an array pointer rather than with unsafe.Slice, whose
	// overflow checks cost more than the one bound check here.
	return append(dst, (*[maxShardCapacity]byte)(unsafe.Add(a.first, off))[:n:n]...)
}

// equalKeyAt reports whether the len(key) > 0 bytes at p (8-byte aligned:
// keys start right after a block header) equal key. The caller
// bounds-checked them against the arena. Keys are short, so it compares 8
// bytes at a time inline (the last 8 overlapping the others; keys under 8
// bytes a byte at a time) rather than calling memequal, and it is small
// enough to be inlined into lookup.
func equalKeyAt(p unsafe.Pointer, key []byte) bool {
	k := unsafe.Pointer(unsafe.SliceData(key))
	n := uintptr(len(key))
	if n < 8 {
		for i := range n {
			if *(*byte)(unsafe.Add(p, i)) != *(*byte)(unsafe.Add(k, i)) {
				return false
			}
		}
		return true
	}
	for i := uintptr(0); i < n-8; i += 8 {
		if *(*uint64)(unsafe.Add(p, i)) != *(*uint64)(unsafe.Add(k, i)) {
			return false
		}
	}
	return *(*uint64)(unsafe.Add(p, n-8)) == *(*uint64)(unsafe.Add(k, n-8))
}
