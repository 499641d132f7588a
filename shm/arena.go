package shm

import "encoding/binary"

// The arena is a byte slice per shard holding one block per entry:
//
//	[slot uint32][size uint32][key][value][padding to 8]
//
// New blocks are bump-allocated at the end. A freed block is marked with
// deadSlot and becomes garbage, except at the very end where it is simply cut
// off. When the next block does not fit, the arena is compacted in place:
// live blocks slide down over the garbage in address order and their entries
// learn their new offsets. No Go pointer per entry, no free lists, no size
// classes: fragmentation is bounded because compaction always restores a
// gapless arena.
//
// Bounds: arena length + entries*entryOverhead never exceeds the shard
// capacity, so the arena's resident memory is bounded by the capacity.

// compactSlack is the share of the shard (1/compactSlack) that an evicting
// write (Set, Add, Replace, Incr creating a counter) frees beyond what it
// strictly needs before it compacts, so that a full shard under churn
// compacts once per capacity/compactSlack bytes written, not on every write.
// SafeSet and SafeAdd may not evict, so they compact whenever that makes
// room: on a shard kept nearly full by safe writes alone, each one that needs
// new space may cost a compaction (a memmove of the shard's live bytes).
const compactSlack = 16

// alloc reserves a block of size bytes for an entry the caller is about to
// add. Unless safe, it evicts least recently used entries until the block
// fits. The caller has checked that size+entryOverhead <= capacity.
func (s *shard) alloc(size int64, safe bool) (uint32, error) {
	for {
		fixed := int64(s.count+1) * entryOverhead
		if int64(len(s.arena))+size+fixed <= s.capacity {
			return s.bump(size), nil
		}
		// Room left once garbage is reclaimed.
		room := s.capacity - s.live - fixed
		if room >= size && (safe || s.count == 0 || room >= size+s.capacity/compactSlack) {
			s.compact()
			continue
		}
		if safe {
			return 0, ErrNoMemory
		}
		victim := s.tail()
		if victim == 0 {
			return 0, ErrValueTooLarge
		}
		s.drop(victim, removedEvicted)
	}
}

// bump appends size bytes to the arena, growing its backing array
// geometrically, but never past what the arena may hold with the current
// entries (capacity minus their overhead), so its slack stays inside the
// capacity. alloc has checked that off+size fits that bound.
func (s *shard) bump(size int64) uint32 {
	off := int64(len(s.arena))
	if int64(cap(s.arena))-off < size {
		newCap := max(2*int64(cap(s.arena)), off+size, 1024)
		newCap = min(newCap, s.capacity-int64(s.count+1)*entryOverhead)
		grown := make([]byte, off, newCap)
		copy(grown, s.arena)
		s.arena = grown
	}
	s.arena = s.arena[:off+size]
	return uint32(off)
}

// freeBlock turns a block into garbage, or trims it if it is the last one.
func (s *shard) freeBlock(off, size uint32) {
	if int(off+size) == len(s.arena) {
		s.arena = s.arena[:off]
		return
	}
	binary.LittleEndian.PutUint32(s.arena[off:], deadSlot)
}

// compact slides live blocks down over the garbage, preserving their order.
func (s *shard) compact() {
	w := uint32(0)
	for p := uint32(0); int(p) < len(s.arena); {
		slot := binary.LittleEndian.Uint32(s.arena[p:])
		size := binary.LittleEndian.Uint32(s.arena[p+4:])
		if slot != deadSlot {
			if p != w {
				copy(s.arena[w:], s.arena[p:p+size])
			}
			s.entries[slot].off = w
			w += size
		}
		p += size
	}
	s.arena = s.arena[:w]
}
