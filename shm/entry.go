package shm

import "unsafe"

// MaxKeyLen is the longest key a Dict accepts, as in ngx.shared.DICT.
const MaxKeyLen = 65535

// EntryOverhead is the fixed number of bytes every entry counts against the
// capacity besides its key and value: its 56-byte slot in the entry table
// and 32 bytes for its share of the index.
const EntryOverhead = 88

// EntryOverhead must equal the entry size plus the index share: each array
// length below is negative, a compile error, if it is off in one direction.
var (
	_ [EntryOverhead - (int(unsafe.Sizeof(entry{})) + indexOverhead)]struct{}
	_ [(int(unsafe.Sizeof(entry{})) + indexOverhead) - EntryOverhead]struct{}
)

const (
	// blockHeader is the size of the header in front of every arena block:
	// the owning slot (uint32, deadSlot once freed) and the block size (uint32).
	blockHeader = 8

	// deadSlot marks a freed block. Slot 0 is the LRU sentinel, never an entry.
	deadSlot = 0

	// indexOverhead is what one entry costs in the shard's index: 8-byte
	// buckets at a load factor between 1/4 and 1/2.
	indexOverhead = 32

	// entryOverhead is EntryOverhead as an int64, for the accounting code.
	entryOverhead = int64(EntryOverhead)

	// flushedExpiry marks an entry expired by FlushAll: it is expired at every
	// clock value (clocks return values >= 0).
	flushedExpiry = -1

	// sweepOnWrite is how many expired entries a write that needs new arena
	// space removes from the LRU tail first (ngx removes one or two the same way).
	sweepOnWrite = 2
)

// entry is one key's state. Entries live in a per-shard slice indexed by
// slot number; they hold no Go pointers, so millions of keys cost the garbage
// collector nothing to scan. The key and a byte-string value live in the
// shard's arena block at off: [header][key][value][padding].
type entry struct {
	hash    uint64 // xxhash of the key, also the index map key
	expires int64  // clock nanos; 0 = never, flushedExpiry = flushed
	num     uint64 // int64 or float64 bits, or 0/1 for bool
	off     uint32 // arena offset of the block
	size    uint32 // block size in bytes, a multiple of 8
	keyLen  uint32
	valLen  uint32 // byte-string length; 0 for other kinds
	flags   uint32 // user flags
	prev    uint32 // LRU neighbours; slot 0 is the sentinel
	next    uint32 // LRU neighbour, or next free slot while the slot is free
	kind    Kind
}

// blockSize is the arena bytes one entry with a key of keyLen bytes and a
// byte-string value of valLen bytes occupies.
func blockSize(keyLen, valLen int) int64 {
	return (int64(blockHeader+keyLen+valLen) + 7) &^ 7
}

// accountedSize is what one entry counts against the capacity.
func accountedSize(keyLen, valLen int) int64 {
	return blockSize(keyLen, valLen) + entryOverhead
}

// expiredAt reports whether e has expired at the time now returns; it reads
// the clock only if e has a TTL.
func (e *entry) expiredAt(now *lazyNow) bool {
	switch {
	case e.expires == 0:
		return false
	case e.expires < 0:
		return true
	}
	return e.expires <= now.get()
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
