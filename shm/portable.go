//go:build !amd64 || race || purego

package shm

import (
	"encoding/binary"
	"slices"
	"sync/atomic"
	"unsafe"
)

// The memory accesses of the seqlocks, for every build but amd64 without
// the race detector (tso_amd64.go, which says why it may use plain stores):
// every word lock-free readers may load is stored and loaded with
// sync/atomic, which the race detector accepts and which orders the
// accesses on weakly ordered machines (arm64 and the others), where a plain
// load before the reader's closing load of seq could be satisfied after it.

// word is one seqlock-protected word.
type word = atomic.Uint64

// storeWord stores one arena word. The caller holds the shard lock.
func (a arena) storeWord(i int, w uint64) { atomic.StoreUint64(&a.words[i], w) }

// moveBytes copies n bytes (a multiple of 8) from byte offset from to byte
// offset to (both multiples of 8, to <= from), word by word, for
// compaction.
func (a arena) moveBytes(to, from, n uint32) {
	for i := uint32(0); i < n; i += 8 {
		atomic.StoreUint64(&a.words[(to+i)/8], a.words[(from+i)/8])
	}
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
func (a arenaRef) appendBytes(dst []byte, off uint64, n int) []byte {
	if n == 0 {
		return dst
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	full := n / 8
	// Pointer arithmetic below: with slices the loop keeps too many values
	// live and spills, which made a 64-byte copy cost 5x a memmove.
	nwords := int((off%8 + uint64(n) + 7) / 8)
	src, to := unsafe.Add(a.first, off&^7), unsafe.Pointer(&out[0])
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
		if full+1 < nwords {
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

// equalKeyAt reports whether the len(key) > 0 bytes at p (8-byte aligned:
// keys start right after a block header) equal key, loading words
// atomically: whole words first, then the last 8 bytes of the key (which
// overlap the words already compared) as two shifted words. The caller
// bounds-checked them against the arena.
func equalKeyAt(p unsafe.Pointer, key []byte) bool {
	n := len(key)
	word := func(j int) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Add(p, 8*j))) }
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
