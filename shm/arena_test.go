package shm

import (
	"testing"
	"unsafe"
)

// TestArenaBytesEveryAlignment checks the word-wise copy-out against every
// start offset and length inside a few words: values start right after a
// key, so at any byte offset.
func TestArenaBytesEveryAlignment(t *testing.T) {
	a := arena{words: make([]uint64, 8)}
	src := make([]byte, 64)
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	a.writeBytes(0, src)
	for off := 0; off < 64; off++ {
		for n := 0; off+n <= 64; n++ {
			got := a.ref().appendBytes([]byte("x"), uint64(off), n)
			if string(got) != "x"+string(src[off:off+n]) {
				t.Fatalf("appendBytes(off %d, n %d) = %x", off, n, got)
			}
		}
	}
}

// TestArenaEqualKeyEveryLength checks the word-wise key comparison for every
// key length up to five words, with value bytes right behind the key, and
// that changing any one key byte breaks the match.
func TestArenaEqualKeyEveryLength(t *testing.T) {
	for n := 1; n < 40; n++ {
		a := arena{words: make([]uint64, 8)}
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(i*5 + 3)
		}
		a.writeBytes(8, key)
		a.writeBytes(8+n, []byte("\xee\xee\xee\xee\xee\xee\xee\xee"))
		if !equalKeyAt(unsafe.Add(a.ref().first, 8), key) {
			t.Fatalf("key of %d bytes does not match itself", n)
		}
		for i := range key {
			changed := append([]byte(nil), key...)
			changed[i] ^= 1
			if equalKeyAt(unsafe.Add(a.ref().first, 8), changed) {
				t.Fatalf("key of %d bytes matches with byte %d changed", n, i)
			}
		}
	}
}
