package shm

import (
	"sync/atomic"
	"unsafe"
)

// index maps key hashes to entry slots: an open-addressing table with linear
// probing and backward-shift deletion (no tombstones), at most half full.
// Each bucket is one uint64, the slot's ref (its segment and position,
// shard.go) <<32 | low 32 bits of the hash, and 0 when empty (slot 0, whose
// ref is 0, is the list sentinel, never an entry). The low hash bits are
// both the probe start (hash & mask) and a tag that skips most non-matching
// buckets without touching their entries; the shard picks keys by the top
// hash bits, so these low bits are still well spread inside a shard.
//
// It replaces a map[uint64]uint32 because a lookup here is one cache line
// and a few instructions, because keys with equal hashes need no chain, and
// because lock-free readers can walk it: writers (holding the shard lock)
// store buckets as words (tso_amd64.go, portable.go), readers load them
// atomically, and writers bump seq to odd while they insert or shift
// buckets and back to even after, and a grown table is built aside and
// published with one pointer store. A reader that walks the table while it
// changes can miss a key that is present (a backward shift moved it behind
// the reader), never find one that is not; so a reader trusts a miss only if
// seq was even and unchanged across its walk (shard.lookup, lockfree.go).
type index struct {
	// The table is published as its first bucket and its mask: a grown
	// table's buckets are stored before its mask, and readers load the mask
	// first, so a reader never indexes past its table (an old mask on the
	// new table only makes it miss, which seq catches). A table is one
	// allocation.
	first atomic.Pointer[word]
	mask  atomic.Uint32
	seq   word // odd while a writer changes buckets
	n     int  // buckets in use; shard lock
}

// indexTable is a view of the published table.
type indexTable struct {
	buckets []word
	mask    uint32
}

const minIndexBuckets = 16

func (x *index) init() {
	x.publish(make([]word, minIndexBuckets))
	x.n = 0
}

func (x *index) publish(buckets []word) {
	x.first.Store(&buckets[0])
	x.mask.Store(uint32(len(buckets) - 1))
}

// table returns the current table.
func (x *index) table() indexTable {
	mask := x.mask.Load()
	return indexTable{buckets: unsafe.Slice(x.first.Load(), int(mask)+1), mask: mask}
}

func bucketOf(slot uint32, hash uint64) uint64 {
	return uint64(slotRef(slot))<<32 | uint64(uint32(hash))
}

func bucketSlot(b uint64) uint32 { return refSlot(bucketRef(b)) }

// bucketRef is the slot's ref (shard.go), which lock-free readers use.
func bucketRef(b uint64) uint32 { return uint32(b >> 32) }

func bucketHome(b uint64, mask uint32) uint32 { return uint32(b) & mask }

// beginWrite and endWrite bracket every change to the buckets.
func (x *index) beginWrite() { x.seq.Store(x.seq.Load() + 1) }
func (x *index) endWrite()   { x.seq.Store(x.seq.Load() + 1) }

// insert adds slot under hash. The caller guarantees slot is not present.
func (x *index) insert(slot uint32, hash uint64) {
	x.beginWrite()
	t := x.table()
	if 2*(x.n+1) > len(t.buckets) {
		t = x.grow(t)
	}
	t.place(bucketOf(slot, hash))
	x.n++
	x.endWrite()
}

func (t indexTable) place(b uint64) {
	for i := bucketHome(b, t.mask); ; i = (i + 1) & t.mask {
		if t.buckets[i].Load() == 0 {
			t.buckets[i].Store(b)
			return
		}
	}
}

// grow builds a table twice as large and publishes it; readers still on the
// old one see it as it was, and its buckets are never written again.
func (x *index) grow(old indexTable) indexTable {
	n := 2 * len(old.buckets)
	t := indexTable{buckets: make([]word, n), mask: uint32(n - 1)}
	for i := range old.buckets {
		if b := old.buckets[i].Load(); b != 0 {
			t.place(b)
		}
	}
	x.publish(t.buckets)
	return t
}

// remove deletes slot, stored under hash, and shifts later buckets of the
// probe run back so lookups never stop early at the hole.
func (x *index) remove(slot uint32, hash uint64) {
	t := x.table()
	want := bucketOf(slot, hash)
	i := bucketHome(want, t.mask)
	for t.buckets[i].Load() != want {
		if t.buckets[i].Load() == 0 {
			return // not present; callers never do this
		}
		i = (i + 1) & t.mask
	}
	x.beginWrite()
	for j := i; ; {
		j = (j + 1) & t.mask
		b := t.buckets[j].Load()
		if b == 0 {
			break
		}
		// b may move into the hole at i unless its home lies cyclically in (i, j].
		home := bucketHome(b, t.mask)
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			t.buckets[i].Store(b)
			i = j
		}
	}
	t.buckets[i].Store(0)
	x.n--
	x.endWrite()
}
