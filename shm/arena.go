package shm

import (
	"encoding/binary"
	"slices"
	"sync/atomic"
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
// writers change it, so every word a reader may load is written with an
// atomic store (the race detector, and the Go memory model, call a plain
// write beside an atomic load a race; the reader's seqlock would discard the
// torn bytes, but the access itself must be atomic). The words are []uint64
// for that reason. Writers, holding the shard lock, read through a byte view
// with plain loads (reads never race with reads). A grown arena is a new
// array published with one pointer store; the old one is never written again.
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
	atomic.StoreUint64(&s.arenaView().words[off/8], uint64(size)<<32|deadSlot)
}

// compact slides live blocks down over the garbage, preserving their order.
// Each moved entry is marked as being written while its bytes move, so a
// reader copying it out retries.
func (s *shard) compact() {
	a := s.arenaView()
	b := a.bytes()
	w := uint32(0)
	for p := uint32(0); int64(p) < s.arenaLen; {
		slot := binary.LittleEndian.Uint32(b[p:])
		size := binary.LittleEndian.Uint32(b[p+4:])
		if slot != deadSlot {
			if p != w {
				e := s.entry(slot)
				beginWrite(e)
				for i := uint32(0); i < size; i += 8 {
					atomic.StoreUint64(&a.words[(w+i)/8], a.words[(p+i)/8])
				}
				e.loc.Store(packLoc(w, size))
				endWrite(e)
			}
			w += size
		}
		p += size
	}
	s.arenaLen = int64(w)
}

// writeBytes stores b at byte offset off of the arena, word by word with
// atomic stores, merging the partial words at either end. The caller holds
// the shard lock (so plain loads of the arena are not racing a write).
func (a arena) writeBytes(off int, b []byte) {
	for len(b) > 0 {
		i, shift := off/8, off%8
		n := min(8-shift, len(b))
		var word uint64
		if n == 8 {
			word = binary.LittleEndian.Uint64(b)
		} else {
			word = a.words[i]
			for j := range n {
				word &^= 0xff << (8 * (shift + j))
				word |= uint64(b[j]) << (8 * (shift + j))
			}
		}
		// An atomic store is a locked instruction on amd64, ten times a
		// plain one: words that already hold the bytes (a value rewritten
		// with the same content, the key of a block moved onto itself) are
		// left alone.
		if a.words[i] != word {
			atomic.StoreUint64(&a.words[i], word)
		}
		off += n
		b = b[n:]
	}
}

// appendBytes appends the n bytes at byte offset off to dst, loading
// the arena's words atomically and writing 8 bytes at a time (two words
// shifted together when off is not a multiple of 8). The caller
// bounds-checked off+n against the arena and validates the bytes with its
// entry's seqlock afterwards.
func (a arena) appendBytes(dst []byte, off, n int) []byte {
	if n == 0 {
		return dst
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	words := a.words[off/8 : (off+n+7)/8]
	full := n / 8
	// Pointer arithmetic below: with slices the loop keeps too many values
	// live and spills, which made a 64-byte copy cost 5x a memmove.
	src, to := unsafe.Pointer(&words[0]), unsafe.Pointer(&out[0])
	word := func(j int) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Add(src, 8*j))) }
	put := func(j int, w uint64) { binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(to, 8*j))[:], w) }
	shift := uint(off%8) * 8
	if shift == 0 {
		for j := range full {
			put(j, word(j))
		}
		if rest := out[8*full:]; len(rest) > 0 {
			putPartial(rest, word(full))
		}
		return dst
	}
	// Output word j is the top of words[j] and the bottom of words[j+1].
	lo := word(0) >> (shift & 63)
	for j := range full {
		hi := word(j + 1)
		put(j, lo|hi<<((64-shift)&63))
		lo = hi >> (shift & 63)
	}
	if rest := out[8*full:]; len(rest) > 0 {
		if full+1 < len(words) {
			lo |= word(full+1) << ((64 - shift) & 63)
		}
		putPartial(rest, lo)
	}
	return dst
}

// putPartial stores the low len(out) < 8 bytes of w.
func putPartial(out []byte, w uint64) {
	for j := range out {
		out[j] = byte(w >> (8 * j))
	}
}

// equalKey reports whether the len(key) > 0 bytes at off (a multiple of 8:
// keys start right after a block header) equal key, loading words
// atomically: whole words first, then the last 8 bytes of the key (which
// overlap the words already compared) as two shifted words.
func (a arena) equalKey(off int, key []byte) bool {
	n := len(key)
	words := a.words[off/8 : (off+n+7)/8]
	src := unsafe.Pointer(&words[0])
	word := func(j int) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Add(src, 8*j))) }
	if n < 8 {
		w := word(0)
		for j, c := range key {
			if byte(w>>(8*j)) != c {
				return false
			}
		}
		return true
	}
	full := n / 8
	for j := range full {
		if word(j) != binary.LittleEndian.Uint64(key[8*j:]) {
			return false
		}
	}
	rest := uint(n%8) * 8
	if rest == 0 {
		return true
	}
	last := word(full-1)>>(rest&63) | word(full)<<((64-rest)&63)
	return last == binary.LittleEndian.Uint64(key[n-8:])
}
