package shm

import (
	"bytes"
	"encoding/binary"
	"sync"
)

// removeReason says why the dict itself dropped an entry; test hooks use it
// to check eviction order against a reference model.
type removeReason uint8

const (
	removedEvicted removeReason = iota + 1 // LRU eviction to make room
	removedExpired                         // bounded sweep or FlushExpired
)

// shard is one lock's worth of the dict: an index, an entry table, an LRU
// list threaded through the entries, and an arena holding keys and byte
// values. Every field is guarded by mu, except the ones set in New.
type shard struct {
	mu sync.Mutex

	index    index   // key hash -> slot
	entries  []entry // slot 0 is the LRU sentinel
	freeSlot uint32  // head of the free-slot list, 0 if none
	arena    []byte  // blocks, bump-allocated, compacted in place

	live  int64 // bytes of live blocks in the arena
	count int   // entries in use, expired ones included

	evictions uint64
	expired   uint64

	// Set in New, read-only afterwards.
	capacity int64
	clock    Clock
	onRemove func(key []byte, why removeReason) // test hook, nil in production

	_ [64]byte // keep the next shard's mutex off this shard's hot line
}

func (s *shard) init(capacity int64, clock Clock) {
	s.capacity = capacity
	s.clock = clock
	s.index.init()
	s.entries = make([]entry, 1, 16)
}

// used is the bytes this shard counts against its capacity.
func (s *shard) used() int64 { return s.live + int64(s.count)*entryOverhead }

// key returns the key bytes of slot, a view into the arena valid only while
// s.mu is held and until the next write to the shard.
func (s *shard) key(slot uint32) []byte {
	e := &s.entries[slot]
	start := e.off + blockHeader
	return s.arena[start : start+e.keyLen]
}

// value returns the byte-string value of slot; same lifetime as key.
func (s *shard) value(slot uint32) []byte {
	e := &s.entries[slot]
	start := e.off + blockHeader + e.keyLen
	return s.arena[start : start+e.valLen]
}

// valueRoom is how many value bytes fit in slot's block without moving it.
func (s *shard) valueRoom(slot uint32) int {
	e := &s.entries[slot]
	return int(e.size - blockHeader - e.keyLen)
}

// find returns the slot holding key, or 0.
func (s *shard) find(hash uint64, key []byte) uint32 {
	x := &s.index
	tag := uint32(hash)
	for i := tag & x.mask; ; i = (i + 1) & x.mask {
		b := x.buckets[i]
		if b == 0 {
			return 0
		}
		if uint32(b) == tag {
			slot := bucketSlot(b)
			if s.entries[slot].hash == hash && bytes.Equal(s.key(slot), key) {
				return slot
			}
		}
	}
}

// pushFront makes slot the most recently used entry.
func (s *shard) pushFront(slot uint32) {
	head := s.entries[0].next
	e := &s.entries[slot]
	e.prev, e.next = 0, head
	s.entries[head].prev = slot
	s.entries[0].next = slot
}

func (s *shard) unlink(slot uint32) {
	e := &s.entries[slot]
	s.entries[e.prev].next = e.next
	s.entries[e.next].prev = e.prev
}

// touch marks slot as just used.
func (s *shard) touch(slot uint32) {
	if s.entries[0].next == slot {
		return
	}
	s.unlink(slot)
	s.pushFront(slot)
}

// tail returns the least recently used slot, or 0 when the shard is empty.
func (s *shard) tail() uint32 { return s.entries[0].prev }

// newSlot returns a cleared slot, reusing freed ones first.
func (s *shard) newSlot() uint32 {
	if slot := s.freeSlot; slot != 0 {
		s.freeSlot = s.entries[slot].next
		s.entries[slot] = entry{}
		return slot
	}
	if len(s.entries) == cap(s.entries) {
		s.growEntries()
	}
	s.entries = append(s.entries, entry{})
	return uint32(len(s.entries) - 1)
}

// growEntries doubles the entry table, but not past the most entries the
// shard can hold (each costs at least a minimal block plus EntryOverhead), so
// the table's slack stays within what the capacity already charges.
func (s *shard) growEntries() {
	most := int(s.capacity/(blockSize(1, 0)+entryOverhead)) + 1 // + the sentinel
	newCap := min(2*cap(s.entries), most)
	newCap = max(newCap, len(s.entries)+1)
	grown := make([]entry, len(s.entries), newCap)
	copy(grown, s.entries)
	s.entries = grown
}

// remove drops slot from the index, the LRU list and the arena.
func (s *shard) remove(slot uint32) {
	e := &s.entries[slot]
	s.unlink(slot)
	s.index.remove(slot, e.hash)
	s.freeBlock(e.off, e.size)
	s.live -= int64(e.size)
	s.count--
	*e = entry{next: s.freeSlot}
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

// sweepExpired removes up to max expired entries from the LRU tail, stopping
// at the first live one or at keep (a slot the caller still uses).
func (s *shard) sweepExpired(now *lazyNow, max int, keep uint32) {
	for range max {
		slot := s.tail()
		if slot == 0 || slot == keep || !s.entries[slot].expiredAt(now) {
			return
		}
		s.drop(slot, removedExpired)
	}
}

// writeBlock fills a freshly allocated block for slot.
func (s *shard) writeBlock(slot uint32, key, val []byte) {
	e := &s.entries[slot]
	b := s.arena[e.off : e.off+e.size]
	binary.LittleEndian.PutUint32(b[0:], slot)
	binary.LittleEndian.PutUint32(b[4:], e.size)
	copy(b[blockHeader:], key)
	copy(b[blockHeader+len(key):], val)
}
