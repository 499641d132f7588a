package shm

import "unsafe"

// MaxKeyLen is the longest key a Dict accepts, as in ngx.shared.DICT.
const MaxKeyLen = 65535

// EntryOverhead is the fixed number of bytes every entry counts against the
// capacity besides its key and value: its 64-byte slot in the entry table,
// 32 bytes for its share of the index and 16 for its share of the counter
// cells (cells.go).
const EntryOverhead = 112

// EntryOverhead must equal the entry size plus the index and cell shares:
// each array length below is negative, a compile error, if it is off in one
// direction.
var (
	_ [EntryOverhead - (int(unsafe.Sizeof(entry{})) + indexOverhead + cellOverhead)]struct{}
	_ [(int(unsafe.Sizeof(entry{})) + indexOverhead + cellOverhead) - EntryOverhead]struct{}
)

const (
	// blockHeader is the size of the header in front of every arena block:
	// the owning slot (uint32, deadSlot once freed) and the block size (uint32).
	blockHeader = 8

	// deadSlot marks a freed block. Slot 0 is the list sentinel, never an entry.
	deadSlot = 0

	// indexOverhead is what one entry costs in the shard's index: 8-byte
	// buckets at a load factor between 1/4 and 1/2.
	indexOverhead = 32

	// cellOverhead is what one entry costs in the counter cells: an 8-byte
	// cell, and as much again of slack in the cell slab (cells.go).
	cellOverhead = 16

	// entryOverhead is EntryOverhead as an int64, for the accounting code.
	entryOverhead = int64(EntryOverhead)

	// flushedExpiry marks an entry expired by FlushAll: it is expired at every
	// clock value (clocks return values >= 0).
	flushedExpiry = -1

	// sweepOnWrite is how many expired entries a write that needs new arena
	// space removes from the list tail first (ngx removes one or two the same way).
	sweepOnWrite = 2
)

// entry is one key's state. Entries live in a per-shard table indexed by
// slot number; they hold no Go pointers, so millions of keys cost the garbage
// collector nothing to scan. The key and a byte-string value live in the
// shard's arena block at off: [header][key][value][padding]. An int64 value
// lives in a counter cell (cells.go), so that Incr can add to it with one
// atomic add.
//
// Lock-free readers read every field but prev and next, so each of those is
// a word (tso_amd64.go, portable.go) written only under the shard lock,
// between two increments of seq (beginWrite, endWrite). The one bit written
// without the lock is the CLOCK bit (refBit in lens), set by readers with a
// compare-and-swap.
//
// An entry is 64 bytes, and segments of them are 64-byte aligned (Go's size
// classes for them are multiples of 64), so a lookup touches one cache line
// of the table.
type entry struct {
	seq       word   // even: stable; odd: a writer is changing the entry
	hashFlags word   // low 32 bits of the key hash << 32 | user flags
	expires   expiry // clock nanos; 0 = never, flushedExpiry = flushed
	num       word   // float64 bits, 0/1 for bool, an int64 too large for a cell
	cell      word   // counter cell id of a KindInt value
	loc       word   // arena offset << 32 | block size in bytes (a multiple of 8)
	lens      word   // refBit | key length << 40 | kind << 32 | byte-string length
	prev      uint32 // list neighbours (shard lock only); slot 0 is the sentinel
	next      uint32 // list neighbour, or next free slot while the slot is free
}

// expiry is the entry's expiry time, a word holding an int64.
type expiry struct{ w word }

func (x *expiry) Load() int64   { return int64(x.w.Load()) }
func (x *expiry) Store(t int64) { x.w.Store(uint64(t)) }

// refBit is the CLOCK bit in entry.lens: used since the eviction hand last
// passed. Writers that store lens clear it (a write puts the entry at the
// list head, which says more).
const refBit = uint64(1) << 63

func packLoc(off, size uint32) uint64 { return uint64(off)<<32 | uint64(size) }

func unpackLoc(w uint64) (off, size uint32) { return uint32(w >> 32), uint32(w) }

func packLens(keyLen int, kind Kind, valLen int) uint64 {
	return uint64(keyLen)<<40 | uint64(kind)<<32 | uint64(uint32(valLen))
}

func unpackLens(w uint64) (keyLen uint32, kind Kind, valLen uint32) {
	return uint32(w>>40) & 0xffff, Kind(w >> 32), uint32(w)
}

func packHashFlags(hash uint64, flags uint32) uint64 { return hash<<32 | uint64(flags) }

// blockSize is the arena bytes one entry with a key of keyLen bytes and a
// byte-string value of valLen bytes occupies.
func blockSize(keyLen, valLen int) int64 {
	return (int64(blockHeader+keyLen+valLen) + 7) &^ 7
}

// accountedSize is what one entry counts against the capacity.
func accountedSize(keyLen, valLen int) int64 {
	return blockSize(keyLen, valLen) + entryOverhead
}

// expiredAt reports whether an entry expiring at expires has expired at the
// time now returns; it reads the clock only if the entry has a TTL.
func expiredAt(expires int64, now *lazyNow) bool {
	switch {
	case expires == 0:
		return false
	case expires < 0:
		return true
	}
	return expires <= now.get()
}

// lazyNow reads the clock at most once per operation, and only when needed.
type lazyNow struct {
	clock Clock
	t     int64
	read  bool
}

func (n *lazyNow) get() int64 {
	if !n.read {
		n.t = n.clock()
		n.read = true
	}
	return n.t
}

// expiresAt turns a TTL into an absolute expiry; ttl must be >= 0 and 0
// means never. It saturates instead of overflowing.
func expiresAt(now *lazyNow, ttl int64) int64 {
	if ttl == 0 {
		return 0
	}
	t := now.get()
	if t > maxExpiry-ttl {
		return maxExpiry
	}
	return t + ttl
}

const maxExpiry = int64(^uint64(0) >> 1)
