package shm

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"unsafe"
)

// removeReason says why the dict itself dropped an entry; test hooks use it
// to check eviction order against a reference model.
type removeReason uint8

const (
	removedEvicted removeReason = iota + 1 // CLOCK eviction to make room
	removedExpired                         // bounded sweep or FlushExpired
)

// shard is one lock's worth of the dict: an index, an entry table, a list
// threaded through the entries (insertion and write order, the CLOCK's
// ring), an arena holding keys and byte values, and the counter cells.
//
// Writers hold mu. Lock-free readers (lockfree.go) load the index, the
// entries, the arena and the cells through the atomic fields and words
// below; every other field is guarded by mu, except the ones set in New.
//
// The fields every lock-free operation loads come first, in 56 bytes, and
// a shard is a multiple of 64 bytes, so they are one cache line whether the
// shard array starts on a 64-byte boundary or 8 bytes past one, as the Go
// heap places it (TestShardHotFieldsShareALine): a Get or an Incr touches
// one line of its shard, not three.
type shard struct {
	shardState
	_ [(64 - unsafe.Sizeof(shardState{})%64) % 64]byte
}

// shardState is a shard but for its padding.
type shardState struct {
	entries    atomic.Pointer[entry]  // the entry table's slot 0, see entry()
	arenaFirst atomic.Pointer[uint64] // see arenaView
	arenaWords atomic.Int64
	cells      atomic.Pointer[cellSlab]
	index      index // its first, mask and seq end the line

	mu sync.Mutex

	entryCap  uint32 // length of the entry table
	slots     uint32 // slots handed out, the sentinel included
	freeSlot  uint32 // head of the free-slot list, 0 if none
	arenaLen  int64  // arena bytes in use
	nextCell  uint64 // next cell id
	liveCells int    // cells of live counters

	live  int64 // bytes of live blocks in the arena
	count int   // entries in use, expired ones included

	evictions uint64
	expired   uint64

	// Set in New, read-only afterwards.
	capacity int64
	maxSlots uint32 // the most slots the shard can use (setMaxSlots)
	clock    Clock
	onRemove func(key []byte, why removeReason) // test hook, nil in production
}

// The entry table is one array of slots, allocated with room for 16 slots
// and grown by doubling (up to maxSlots) when they are used up: a grown
// table is a copy, published with one pointer store, so that a lock-free
// reader reaches an entry from its bucket with an add to a base it loads
// beside the bucket, not through a segment pointer it can only load once
// the bucket has arrived (the table used to be a list of segments that
// never moved, one dependent load more on every Get and Incr).
//
// Entries do move, then, and a reader may hold the old copy: growEntries
// publishes the new table and then freezes every entry of the old one by
// making its seq odd for good, before any writer changes an entry again.
// A reader that loaded the old table sees either an entry as it still is
// (nothing changed between the copy and the freeze) or an odd or changed
// seq, and retries; a retry loads the table again. A reader loads the table
// after the bucket that names the slot, and a slot is allocated, in the
// current table, before any bucket names it, so the slot is inside the
// table the reader loaded. The one write a reader makes, the CLOCK bit, may
// land on a frozen copy and be lost: the eviction order is an
// approximation anyway.
const minEntrySlots = 16

func (s *shard) init(capacity int64, clock Clock) {
	s.capacity = capacity
	s.clock = clock
	s.index.init(s.slotHash)
	s.setMaxSlots()
	s.slots = 1 // the sentinel
	s.growEntries()
}

// entry returns slot's entry in the current table. It needs no bounds
// check: under the lock slot is always allocated (writers call this a dozen
// times per operation), and a lock-free reader calls it with a slot it
// loaded from a bucket, before the table (see minEntrySlots). A writer's
// pointers are good until the next newSlot, which may move the table.
func (s *shard) entry(slot uint32) *entry {
	return (*entry)(unsafe.Add(unsafe.Pointer(s.entries.Load()), uintptr(slot)*unsafe.Sizeof(entry{})))
}

// slotHash returns the low 32 bits of the hash of slot's entry, for the
// index's writers.
func (s *shard) slotHash(slot uint32) uint32 { return uint32(s.entry(slot).hashFlags.Load() >> 32) }

// sentinel is slot 0, the list head: its next is the head, its prev the tail.
func (s *shard) sentinel() *entry { return s.entries.Load() }

// growEntries publishes an entry table with room for twice the slots (at
// least minEntrySlots, at most maxSlots) holding the current one's entries,
// then freezes the old table's entries (see minEntrySlots). The caller
// holds the lock, with no write of an entry under way.
func (s *shard) growEntries() {
	n := min(max(2*s.entryCap, minEntrySlots), s.maxSlots)
	t := make([]entry, n)
	if s.entryCap != 0 {
		old := unsafe.Slice(s.entries.Load(), s.entryCap)
		for i := range old {
			copyEntry(&t[i], &old[i])
		}
		s.entries.Store(&t[0])
		for i := range old {
			old[i].seq.Store(old[i].seq.Load() + 1) // odd: frozen for good
		}
	} else {
		s.entries.Store(&t[0])
	}
	s.entryCap = n
}

// copyEntry copies src to dst word by word (the words may be atomics).
func copyEntry(dst, src *entry) {
	dst.seq.Store(src.seq.Load())
	dst.hashFlags.Store(src.hashFlags.Load())
	dst.expires.Store(src.expires.Load())
	dst.num.Store(src.num.Load())
	dst.cell.Store(src.cell.Load())
	dst.loc.Store(src.loc.Load())
	dst.lens.Store(src.lens.Load())
	dst.prev, dst.next = src.prev, src.next
}

// setMaxSlots bounds the entry table: each entry costs at least a minimal
// block plus EntryOverhead, so the table's slack stays within what the
// capacity already charges.
func (s *shard) setMaxSlots() {
	most := s.capacity/(blockSize(1, 0)+entryOverhead) + 1 // + the sentinel
	s.maxSlots = uint32(min(most, maxBucketSlot+1))
}

// beginWrite and endWrite bracket every change of an entry's fields (or of
// its arena bytes) made under the shard lock: a lock-free reader that sees
// an odd seq, or a different seq after reading, retries.
func beginWrite(e *entry) { e.seq.Store(e.seq.Load() + 1) }
func endWrite(e *entry)   { e.seq.Store(e.seq.Load() + 1) }

// used is the bytes this shard counts against its capacity.
func (s *shard) used() int64 { return s.live + int64(s.count)*entryOverhead }

// key returns the key bytes of slot, a view into the arena valid only while
// s.mu is held and until the next write to the shard.
func (s *shard) key(slot uint32) []byte { return s.keyOf(s.entry(slot)) }

func (s *shard) keyOf(e *entry) []byte {
	off, _ := unpackLoc(e.loc.Load())
	keyLen, _, _ := unpackLens(e.lens.Load())
	start := off + blockHeader
	return s.arenaView().bytes()[start : start+keyLen]
}

// valueRoom is how many value bytes fit in e's block without moving it.
func valueRoom(e *entry) int {
	_, size := unpackLoc(e.loc.Load())
	keyLen, _, _ := unpackLens(e.lens.Load())
	return int(size - blockHeader - keyLen)
}

// find returns the slot holding key, or 0. The caller holds the lock.
func (s *shard) find(hash uint64, key []byte) uint32 {
	t := s.index.table()
	tag := bucketTag(hash)
	for i := uint32(hash) & t.mask; ; i = (i + 1) & t.mask {
		b := t.buckets[i].Load()
		if b == 0 {
			return 0
		}
		if b&bucketTagMask == tag {
			slot := bucketSlot(b)
			e := s.entry(slot)
			if uint32(e.hashFlags.Load()>>32) == uint32(hash) && bytes.Equal(s.keyOf(e), key) {
				return slot
			}
		}
	}
}

// pushFront puts slot at the head of the list (where writes put entries;
// the eviction hand works from the tail).
func (s *shard) pushFront(slot uint32) {
	sentinel := s.sentinel()
	head := sentinel.next
	e := s.entry(slot)
	e.prev, e.next = 0, head
	s.entry(head).prev = slot
	sentinel.next = slot
}

func (s *shard) unlink(slot uint32) {
	e := s.entry(slot)
	s.entry(e.prev).next = e.next
	s.entry(e.next).prev = e.prev
}

// touch marks slot as just written: head of the list, reference bit clear
// (the list position says more than the bit).
func (s *shard) touch(slot uint32) {
	s.clearRef(slot)
	if s.sentinel().next == slot {
		return
	}
	s.unlink(slot)
	s.pushFront(slot)
}

func (s *shard) clearRef(slot uint32) {
	if e := s.entry(slot); e.lens.Load()&refBit != 0 {
		// A reader only sets the bit when it is clear, so this store
		// cannot undo a reader's change of anything else.
		e.lens.Store(e.lens.Load() &^ refBit)
	}
}

// tail returns the slot at the list tail, or 0 when the shard is empty.
func (s *shard) tail() uint32 { return s.sentinel().prev }

// clockVictim returns the entry to evict, or 0 when the shard is empty. It
// is CLOCK (second chance) on the list: the tail entry is the victim unless
// it was used (Get, Incr) since the hand last passed it; then its bit is
// cleared, it goes to the head, and the hand moves on. Every pass clears a
// bit, so this ends within count+1 steps.
func (s *shard) clockVictim() uint32 {
	for {
		slot := s.tail()
		if slot == 0 || s.entry(slot).lens.Load()&refBit == 0 {
			return slot
		}
		s.touch(slot)
	}
}

// newSlot returns a cleared slot, reusing freed ones first.
func (s *shard) newSlot() uint32 {
	if slot := s.freeSlot; slot != 0 {
		s.freeSlot = s.entry(slot).next
		return slot
	}
	slot := s.slots
	if slot == s.entryCap {
		s.growEntries()
	}
	s.slots++
	return slot
}

// remove drops slot from the index, the list, the arena and the cells. A
// lock-free reader that found the slot before sees its seq change, and one
// that looks after sees no key.
func (s *shard) remove(slot uint32) {
	e := s.entry(slot)
	s.unlink(slot)
	s.index.remove(slot, e.hashFlags.Load()>>32)
	off, size := unpackLoc(e.loc.Load())
	s.freeBlock(off, size)
	s.live -= int64(size)
	s.count--
	beginWrite(e)
	if _, kind, _ := unpackLens(e.lens.Load()); kind == KindInt {
		s.freeCell(e.cell.Load())
	}
	e.hashFlags.Store(0)
	e.lens.Store(0)
	e.loc.Store(0)
	endWrite(e)
	e.prev, e.next = 0, s.freeSlot
	s.freeSlot = slot
}

// drop removes slot on the dict's own initiative and tells the test hook.
func (s *shard) drop(slot uint32, why removeReason) {
	if s.onRemove != nil {
		s.onRemove(s.key(slot), why)
	}
	if why == removedEvicted {
		s.evictions++
	} else {
		s.expired++
	}
	s.remove(slot)
}

// sweepExpired removes up to max expired entries from the list tail,
// stopping at the first live one or at keep (a slot the caller still uses).
func (s *shard) sweepExpired(now *lazyNow, max int, keep uint32) {
	for range max {
		slot := s.tail()
		if slot == 0 || slot == keep || !expiredAt(s.entry(slot).expires.Load(), now) {
			return
		}
		s.drop(slot, removedExpired)
	}
}

// writeBlock fills a freshly allocated block for slot.
func (s *shard) writeBlock(slot uint32, off, size uint32, key, val []byte) {
	a := s.arenaView()
	var header [blockHeader]byte
	binary.LittleEndian.PutUint32(header[0:], slot)
	binary.LittleEndian.PutUint32(header[4:], size)
	a.writeBytes(int(off), header[:])
	a.writeBytes(int(off)+blockHeader, key)
	a.writeBytes(int(off)+blockHeader+len(key), val)
}
