package shm

import (
	"math/bits"
	"strconv"
	"testing"
)

// TestHashKeyEveryLength runs hashKey over every length branch (short keys,
// the 16-byte loop, the 48-byte loop and their tails) and checks that
// flipping any one input bit changes about half of the output bits, and
// never none: a branch that skipped a byte would show here.
func TestHashKeyEveryLength(t *testing.T) {
	for n := 1; n <= 150; n++ {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(i*31 + n)
		}
		h := hashKey(key)
		flips, changed := 0, 0
		for i := range key {
			for b := range 8 {
				key[i] ^= 1 << b
				changed += bits.OnesCount64(h ^ hashKey(key))
				if hashKey(key) == h {
					t.Fatalf("length %d: flipping bit %d of byte %d leaves the hash", n, b, i)
				}
				key[i] ^= 1 << b
				flips++
			}
		}
		if avg := float64(changed) / float64(flips); avg < 28 || avg > 36 {
			t.Errorf("length %d: a one-bit flip changes %.1f output bits on average, want about 32", n, avg)
		}
	}
}

// TestHashKeySpread checks both ends the dict uses, the top bits (shard)
// and the low bits (index probe start), on keys that differ only in a
// counter, the shape of rate-limit keys: every one of 64 buckets gets
// within 20% of its share.
func TestHashKeySpread(t *testing.T) {
	const keys, buckets = 64 << 10, 64
	var top, low [buckets]int
	for i := range keys {
		h := hashKey([]byte("limit:consumer:" + strconv.Itoa(i) + ":route:42"))
		top[h>>58]++
		low[h%buckets]++
	}
	want := keys / buckets
	for b := range buckets {
		for _, c := range []struct {
			name  string
			count int
		}{{"top", top[b]}, {"low", low[b]}} {
			if c.count < want*8/10 || c.count > want*12/10 {
				t.Fatalf("%s bits: bucket %d holds %d keys, want about %d", c.name, b, c.count, want)
			}
		}
	}
}

// TestHashKeyIsWyhash pins hashKey to the function it was before its
// short-key branch was written with unchecked loads: keys of every length
// from 0 to 200 bytes hash, folded together, to what the plain wyhash
// (commit 2b2d786) gave. A slip in a branch would move keys to other shards
// and index buckets, and change the exact eviction figures of
// TestEvictionQualityZipf.
func TestHashKeyIsWyhash(t *testing.T) {
	var sum uint64
	for n := 0; n <= 200; n++ {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(i*131 + n*7 + 1)
		}
		sum = sum*31 + hashKey(key)
	}
	if want := uint64(0x11d89af91e3ef11c); sum != want {
		t.Fatalf("hashes of keys of 0 to 200 bytes fold to %#x, want %#x", sum, want)
	}
}
