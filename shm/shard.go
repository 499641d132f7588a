package shm

import (
	"bytes"
	"encoding/binary"
	"math/bits"
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
type shard struct {
	mu sync.Mutex

	index      index
	segs       [entrySegments]atomic.Pointer[entry] // entry table segments, see entry()
	arenaFirst atomic.Pointer[uint64]               // see arenaView
	arenaWords atomic.Int64
	cells      atomic.Pointer[cellSlab]

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
	segLen   [entrySegments]int
	clock    Clock
	onRemove func(key []byte, why removeReason) // test hook, nil in production

	_ [64]byte // keep the next shard's mutex off this shard's hot line
}

// The entry table is a list of segments of doubling size (16, 32, 64, ...
// entries), allocated as slots are needed and never moved or freed, so an
// entry has one address for the shard's life and its seqlock means what it
// says to a reader that found it through an old index table. A shard of
// maxShardCapacity bytes holds at most 2^24+1 slots (setSegLens: each entry
// costs at least 128 bytes), which segments 0 to 20 cover.
const (
	entrySegments   = 21
	firstSegmentLog = 4
)

// segmentOf locates slot: segment k holds slots [16(2^k-1), 16(2^(k+1)-1)).
func segmentOf(slot uint32) (k, i int) {
	q := uint64(slot) + 1<<firstSegmentLog
	k = bits.Len64(q) - 1 - firstSegmentLog
	return k, int(q - 1<<(k+firstSegmentLog))
}

func (s *shard) init(capacity int64, clock Clock) {
	s.capacity = capacity
	s.clock = clock
	s.index.init(s.refHash)
	s.setSegLens()
	s.slots = 1 // the sentinel
	s.addSegment(0)
}

// entry returns slot's entry. Under the lock slot is always allocated, and
// any slot number a lock-free reader can read from an index table (old or
// current) was allocated before its bucket was stored; segments are never
// freed. So it needs no bounds checks: writers call it a dozen times per
// operation.
func (s *shard) entry(slot uint32) *entry {
	k, i := segmentOf(slot)
	return (*entry)(unsafe.Add(unsafe.Pointer(s.segs[k].Load()), uintptr(i)*unsafe.Sizeof(entry{})))
}

// A slot's ref is how the index stores it (index.go): its segment above
// refSegmentShift bits of position in the segment, 29 bits in all, so that a
// lock-free reader finds the entry with a shift and a mask (entryAt)
// instead of segmentOf's bit length and shifts. The last segment holds
// 16<<20 = 2^24 entries, so the position fits; slot 0's ref is 0, and no
// other slot's is.
const (
	refSegmentShift = 24
	refIndexMask    = 1<<refSegmentShift - 1
)

func slotRef(slot uint32) uint32 {
	k, i := segmentOf(slot)
	return uint32(k)<<refSegmentShift | uint32(i)
}

func refSlot(ref uint32) uint32 {
	k := ref >> refSegmentShift
	return 1<<firstSegmentLog<<k - 1<<firstSegmentLog + ref&refIndexMask
}

// entryAt returns the entry of ref, with no bounds checks for the reasons
// entry gives.
func (s *shard) entryAt(ref uint32) *entry {
	seg := unsafe.Pointer(s.segs[ref>>refSegmentShift].Load())
	return (*entry)(unsafe.Add(seg, uintptr(ref&refIndexMask)*unsafe.Sizeof(entry{})))
}

// refHash returns the low 32 bits of the hash of ref's entry, for the
// index's writers.
func (s *shard) refHash(ref uint32) uint32 { return uint32(s.entryAt(ref).hashFlags.Load() >> 32) }

// sentinel is slot 0, the list head: its next is the head, its prev the tail.
func (s *shard) sentinel() *entry { return s.segs[0].Load() }

// addSegment allocates segment k (one allocation, published as a pointer to
// its first entry; its length is s.segLen[k]).
func (s *shard) addSegment(k int) {
	seg := make([]entry, s.segLen[k])
	s.segs[k].Store(&seg[0])
}

// setSegLens sizes the segments: 16 << k entries, but none past the most
// slots the shard can use (each entry costs at least a minimal block plus
// EntryOverhead), so the table's slack stays within what the capacity
// already charges.
func (s *shard) setSegLens() {
	most := s.capacity/(blockSize(1, 0)+entryOverhead) + 1 // + the sentinel
	for k := range s.segLen {
		start := int64(1<<firstSegmentLog) * (int64(1)<<k - 1)
		s.segLen[k] = int(min(int64(1)<<(k+firstSegmentLog), max(most-start, 0)))
	}
	s.segLen[0] = max(s.segLen[0], 1)
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
	if k, i := segmentOf(slot); i == 0 {
		s.addSegment(k)
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
