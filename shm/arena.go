package shm

import (
	"encoding/binary"
	"unsafe"
)

// The arena is a word slice per shard holding one block per entry:
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
// Lock-free readers compare keys and copy values out of the arena while
// writers change it; their entry's seqlock discards what a writer tore. How
// the bytes are stored and loaded depends on the build: with plain stores
// and memmove on amd64 (tso_amd64.go), word by word with sync/atomic
// elsewhere and under the race detector (portable.go), which is why the
// arena is a []uint64. Writers, holding the shard lock, read through a byte
// view with plain loads (reads never race with reads). A grown arena is a
// new array published with one pointer store; the old one is never written
// again.
//
// Bounds: arena length + entries*entryOverhead never exceeds the shard
// capacity, so the arena's resident memory is bounded by the capacity.

// arena is a view of one backing array; its whole length may be read,
// s.arenaLen bytes of it are in use.
type arena struct {
	words []uint64
}

// arenaView returns the current backing array. It is published as its first
// word and its length, stored in that order and loaded in the other, so a
// reader never indexes past the array it holds (arrays only grow).
func (s *shard) arenaView() arena {
	n := s.arenaWords.Load()
	if n == 0 {
		return arena{}
	}
	return arena{words: unsafe.Slice(s.arenaFirst.Load(), n)}
}

// arenaRef is the arena as a lock-free reader holds it: its first word and
// its length in bytes, loaded in arenaView's order. It costs two loads and
// no slice construction; readers bounds-check offsets against size
// themselves.
type arenaRef struct {
	first unsafe.Pointer
	size  uint64
}

func (s *shard) arenaRef() arenaRef {
	n := s.arenaWords.Load()
	return arenaRef{first: unsafe.Pointer(s.arenaFirst.Load()), size: 8 * uint64(n)}
}

// ref returns a's reader view.
func (a arena) ref() arenaRef {
	return arenaRef{first: unsafe.Pointer(unsafe.SliceData(a.words)), size: 8 * uint64(len(a.words))}
}

// bytes views the arena as bytes for reads under the shard lock.
func (a arena) bytes() []byte {
	if len(a.words) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&a.words[0])), 8*len(a.words))
}

// compactSlack is the share of the shard (1/compactSlack) that an evicting
// write (Set, Add, Replace, Incr creating a counter) frees beyond what it
// strictly needs before it compacts, so that a full shard under churn
// compacts once per capacity/compactSlack bytes written, not on every write.
// SafeSet and SafeAdd may not evict, so they compact whenever that makes
// room: on a shard kept nearly full by safe writes alone, each one that needs
// new space may cost a compaction (a move of the shard's live bytes).
const compactSlack = 16

// alloc reserves a block of size bytes for an entry the caller is about to
// add. Unless safe, it evicts entries (CLOCK order, see evictOne) until the
// block fits. The caller has checked that size+entryOverhead <= capacity.
func (s *shard) alloc(size int64, safe bool) (uint32, error) {
	for {
		fixed := int64(s.count+1) * entryOverhead
		if s.arenaLen+size+fixed <= s.capacity {
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
		victim := s.clockVictim()
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
	off := s.arenaLen
	a := s.arenaView()
	if int64(8*len(a.words))-off < size {
		newCap := max(2*int64(8*len(a.words)), off+size, 1024)
		newCap = min(newCap, s.capacity-int64(s.count+1)*entryOverhead)
		grown := make([]uint64, newCap/8)
		copy(grown, a.words[:off/8])
		s.arenaFirst.Store(&grown[0])
		s.arenaWords.Store(int64(len(grown)))
	}
	s.arenaLen = off + size
	return uint32(off)
}

// freeBlock turns a block into garbage, or trims it if it is the last one.
func (s *shard) freeBlock(off, size uint32) {
	if int64(off+size) == s.arenaLen {
		s.arenaLen = int64(off)
		return
	}
	s.arenaView().storeWord(int(off/8), uint64(size)<<32|deadSlot)
}

// compact slides live blocks down over the garbage, preserving their order.
// Each moved entry is marked as being written while its bytes move and its
// loc and index bucket change, so a reader copying it out retries.
func (s *shard) compact() {
	a := s.arenaView()
	b := a.bytes()
	t := s.index.table()
	w := uint32(0)
	for p := uint32(0); int64(p) < s.arenaLen; {
		slot := binary.LittleEndian.Uint32(b[p:])
		size := binary.LittleEndian.Uint32(b[p+4:])
		if slot != deadSlot {
			if p != w {
				ref := slotRef(slot)
				e := s.entryAt(ref)
				beginWrite(e)
				a.moveBytes(w, p, size)
				e.loc.Store(packLoc(w, size))
				t.setOff(ref, e.hashFlags.Load()>>32, w)
				endWrite(e)
			}
			w += size
		}
		p += size
	}
	s.arenaLen = int64(w)
}
