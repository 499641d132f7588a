package shm

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// hashKey is the dict's key hash: wyhash (final version 4, by Wang Yi,
// public domain), the algorithm behind Go's own fallback map hash, with a
// fixed seed. It replaced xxhash because a request-path Get or Incr hashes
// its key on every call: on 25- to 30-byte keys it is three 64x64
// multiplies, 2.9 ns against xxhash's 7.3 (27-byte key, same run).
//
// The top bits pick the shard and the low 32 bits are the index's probe
// start and tag; every output bit depends on every input bit through the
// final multiplies, so both ends are well spread.
//
// The seed is fixed, as xxhash's was: shard and index placement are the same
// in every process, which keeps tests and their eviction figures
// reproducible.
//
// Keys of up to 32 bytes, the request path's (rate-limit and cache keys),
// are hashed here with unchecked loads and no loop, longer ones by
// hashLongKey; both compute the one wyhash function (TestHashKeyIsWyhash).
func hashKey(key []byte) uint64 {
	n := len(key)
	if n > 32 {
		return hashLongKey(key)
	}
	p := unsafe.Pointer(unsafe.SliceData(key))
	h := uint64(hashSeed)
	var a, b uint64
	switch {
	case n > 16:
		h = wymix(load64(p, 0)^hashS1, load64(p, 8)^h)
		a, b = load64(p, n-16), load64(p, n-8)
	case n >= 4:
		q := (n >> 3) << 2 // 0 for 4..7 bytes, 4 for 8..16
		a = uint64(load32(p, 0))<<32 | uint64(load32(p, q))
		b = uint64(load32(p, n-4))<<32 | uint64(load32(p, n-4-q))
	case n > 0:
		a = uint64(*(*byte)(p))<<16 | uint64(*(*byte)(unsafe.Add(p, n>>1)))<<8 | uint64(*(*byte)(unsafe.Add(p, n-1)))
	}
	return hashFinish(a, b, h, n)
}

const (
	hashS0 = 0xa0761d6478bd642f
	hashS1 = 0xe7037ed1a0b428db
	hashS2 = 0x8ebc6af09c88c6e3
	hashS3 = 0x589965cc75374cc3
	// hashSeed is wymix(0^s0, s1) ^ 0: the seeding step of wyhash for seed 0.
	hashSeed = 0x1ff5c2923a788d2c
)

// hashLongKey is hashKey for keys of more than 32 bytes.
func hashLongKey(key []byte) uint64 {
	n := len(key)
	h := uint64(hashSeed)
	p := key
	if len(p) >= 48 {
		h1, h2 := h, h
		for len(p) >= 48 {
			h = wymix(le64(p, 0)^hashS1, le64(p, 8)^h)
			h1 = wymix(le64(p, 16)^hashS2, le64(p, 24)^h1)
			h2 = wymix(le64(p, 32)^hashS3, le64(p, 40)^h2)
			p = p[48:]
		}
		h ^= h1 ^ h2
	}
	for len(p) > 16 {
		h = wymix(le64(p, 0)^hashS1, le64(p, 8)^h)
		p = p[16:]
	}
	// The last 16 bytes of the key, overlapping what the loop took.
	return hashFinish(le64(key, n-16), le64(key, n-8), h, n)
}

// hashFinish is wyhash's last step on the last two words a and b of a
// key of n bytes, with h the state after the words before them.
func hashFinish(a, b, h uint64, n int) uint64 {
	hi, lo := bits.Mul64(a^hashS1, b^h)
	return wymix(lo^hashS0^uint64(n), hi^hashS1)
}

func wymix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func le64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// load64 and load32 read little-endian words at p+i; the caller knows them
// to be inside the key.
func load64(p unsafe.Pointer, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(p, i))[:])
}

func load32(p unsafe.Pointer, i int) uint32 {
	return binary.LittleEndian.Uint32((*[4]byte)(unsafe.Add(p, i))[:])
}
