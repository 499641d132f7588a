package shm

import (
	"sync/atomic"
	"unsafe"
)

// index maps key hashes to entry slots: an open-addressing table with linear
// probing and backward-shift deletion (no tombstones), at most half full.
// Each bucket is one uint64 (bucketOf), 0 when empty:
//
//	ref (29 bits) | arena word offset of the entry's block (28 bits) | tag (7 bits)
//
// The ref is the slot's segment and position (shard.go), so a reader
// reaches the entry with a shift and a mask; slot 0, whose ref is 0, is the
// list sentinel, never an entry, so no bucket is 0. The offset lets a
// reader load the key and value from the arena at the same time as the
// entry, instead of after it: on a key that is not in cache, the entry and
// the block are two cache misses in parallel rather than one after the
// other. The reader only uses a block whose offset equals the entry's loc,
// validated under the entry's seq like every other field (lockfree.go), and
// writers keep the two equal (insert; compaction moves blocks, setOff). The
// tag is 7 bits of the hash that neither the probe start (the low bits) nor
// the shard (the top bits) use: it skips all but 1/128 of the other keys'
// buckets without touching their entries. A bucket has no room for the bits
// of its home (up to 26 in the largest shard), so writers, which need the
// home to grow the table or shift a run back, read it from the entry's
// hash (hashOf).
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

	// hashOf returns the low 32 bits of the hash of the entry that ref
	// names (entry.hashFlags), for writers placing or shifting a bucket.
	hashOf func(ref uint32) uint32
}

// indexTable is a view of the published table.
type indexTable struct {
	buckets []word
	mask    uint32
}

const minIndexBuckets = 16

func (x *index) init(hashOf func(ref uint32) uint32) {
	x.hashOf = hashOf
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

// The bucket layout. A shard's arena is smaller than maxShardCapacity
// (2^31) bytes, so block offsets, multiples of 8, fit 28 bits as words; refs
// fit 29 bits (shard.go).
const (
	bucketTagBits  = 7
	bucketTagMask  = 1<<bucketTagBits - 1
	bucketOffShift = bucketTagBits
	bucketOffMask  = (maxShardCapacity - 1) &^ 7 // byte offset bits, after a shift by bucketOffShift-3
	bucketRefShift = bucketOffShift + 28
)

func bucketOf(slot uint32, hash uint64, off uint32) uint64 {
	return uint64(slotRef(slot))<<bucketRefShift | uint64(off/8)<<bucketOffShift | bucketTag(hash)
}

// bucketTag is the tag of hash: bits the shard (top) and the probe start
// (bottom) do not use.
func bucketTag(hash uint64) uint64 { return hash >> 32 & bucketTagMask }

func bucketSlot(b uint64) uint32 { return refSlot(bucketRef(b)) }

// bucketRef is the slot's ref (shard.go), which lock-free readers use.
func bucketRef(b uint64) uint32 { return uint32(b >> bucketRefShift) }

// bucketOff is the byte offset of the entry's arena block.
func bucketOff(b uint64) uint32 { return uint32(b>>(bucketOffShift-3)) & bucketOffMask }

// home is where the probe for b's key starts.
func (x *index) home(b uint64, mask uint32) uint32 { return x.hashOf(bucketRef(b)) & mask }

// beginWrite and endWrite bracket every change to the buckets.
func (x *index) beginWrite() { x.seq.Store(x.seq.Load() + 1) }
func (x *index) endWrite()   { x.seq.Store(x.seq.Load() + 1) }

// insert adds slot, whose block is at arena offset off, under hash. The
// caller guarantees slot is not present.
func (x *index) insert(slot uint32, hash uint64, off uint32) {
	x.beginWrite()
	t := x.table()
	if 2*(x.n+1) > len(t.buckets) {
		t = x.grow(t)
	}
	t.place(bucketOf(slot, hash, off), uint32(hash)&t.mask)
	x.n++
	x.endWrite()
}

// place stores b in the first empty bucket from home on.
func (t indexTable) place(b uint64, home uint32) {
	for i := home; ; i = (i + 1) & t.mask {
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
			t.place(b, x.home(b, t.mask))
		}
	}
	x.publish(t.buckets)
	return t
}

// bucketOfRef returns the position of the bucket of the slot whose ref is
// ref, stored under hash, in t, and false if it is not there (callers never
// ask for that).
func (t indexTable) bucketOfRef(ref uint32, hash uint64) (uint32, bool) {
	for i := uint32(hash) & t.mask; ; i = (i + 1) & t.mask {
		switch b := t.buckets[i].Load(); {
		case b == 0:
			return 0, false
		case bucketRef(b) == ref:
			return i, true
		}
	}
}

// setOff records that the block of the slot whose ref is ref moved to arena
// offset off. It moves no bucket, so it needs no seq bump: a reader that
// loads the old bucket sees the offset differ from the entry's loc and
// retries (lockfree.go). It is the table's method so that a compaction,
// which calls it for every block it moves, takes the table once.
func (t indexTable) setOff(ref uint32, hash uint64, off uint32) {
	if i, ok := t.bucketOfRef(ref, hash); ok {
		b := t.buckets[i].Load()
		t.buckets[i].Store(b&^(bucketOffMask<<(bucketOffShift-3)) | uint64(off)<<(bucketOffShift-3))
	}
}

// remove deletes slot, stored under hash, and shifts later buckets of the
// probe run back so lookups never stop early at the hole.
func (x *index) remove(slot uint32, hash uint64) {
	t := x.table()
	i, ok := t.bucketOfRef(slotRef(slot), hash)
	if !ok {
		return
	}
	x.beginWrite()
	for j := i; ; {
		j = (j + 1) & t.mask
		b := t.buckets[j].Load()
		if b == 0 {
			break
		}
		// b may move into the hole at i unless its home lies cyclically in (i, j].
		home := x.home(b, t.mask)
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			t.buckets[i].Store(b)
			i = j
		}
	}
	t.buckets[i].Store(0)
	x.n--
	x.endWrite()
}
