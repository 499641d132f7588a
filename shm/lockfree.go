package shm

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// The lock-free paths: Get, GetStale, TTL and Incr on an existing counter
// find their entry and read it (or add to its counter cell) without the
// shard lock. Every word they read is loaded atomically, byte runs (the key,
// a value) are compared and copied as tso_amd64.go or portable.go says, and
// they validate what they read with two sequence numbers:
//
//   - the entry's seq (beginWrite/endWrite): even and unchanged across the
//     reads means no writer touched the entry, its arena bytes, its cell id
//     or its bucket's block offset meanwhile, so the key matched and the
//     value is one that was stored;
//   - the index's seq: a miss is only trusted if no writer changed buckets
//     during the walk (a backward shift could have hidden the key).
//
// A hit costs one load of the entry's seq before its reads and one after
// (an Incr adds to its cell after that validation, cells.go). lookup
// compares the key and returns only the entry, its seq and its block's
// offset; the operation loads the fields it needs itself, in between, since
// loading a word again from a line in cache costs less than carrying it
// through a call. A reader that sees a writer at work retries; after
// maxOptimistic failed attempts it takes the shard lock, so a reader always
// finishes even if writers keep the entry busy. Readers write nothing but
// the CLOCK bit, and only while it is clear.

// maxOptimistic is how many lock-free attempts an operation makes before it
// takes the shard lock.
const maxOptimistic = 8

type probe uint8

const (
	probeHit   probe = iota // h.e holds key; validate with h.valid()
	probeMiss               // key is absent
	probeRetry              // a writer got in the way
)

// hit is the entry lookup found holding the key, the sequence number it
// read before anything else of it, and the arena offset of its block
// (which lookup checked against the entry's loc): the caller loads what it
// needs from e and the block (its own loads, after lookup's), and
// everything it loaded is valid if e.seq still holds seq afterwards. Three
// words, so that it stays in registers: a larger struct is kept in memory
// by the compiler, a store and a load per field.
type hit struct {
	e   *entry
	seq uint64
	off uint64
}

// lookup finds key without the lock. On probeHit, h describes the entry
// that holds it.
//
// It walks the current index table with raw pointer arithmetic: the mask is
// loaded before the table's first bucket and a grown table is published the
// other way round (index.publish), so i&mask is always inside the table it
// indexes, and the walk needs no bounds checks. On amd64 it calls nothing
// (equalKeyAt is inlined): Go keeps no register across a call, and one in
// the loop would spill and reload everything the walk holds.
//
// It reads the key at the block offset the bucket holds, not the one in the
// entry's loc, having checked that they are equal: a branch, which the core
// predicts, where using loc's would be a data dependency. So the key's
// (and the value's) cache lines are fetched as soon as the bucket is in,
// at the same time as the entry's. A bucket whose offset differs from loc
// is one a compaction is moving (indexTable.setOff): lookup retries.
func (s *shard) lookup(hash uint64, key []byte) (h hit, p probe) {
	iseq := s.index.seq.Load()
	if iseq&1 != 0 {
		return h, probeRetry
	}
	mask := s.index.mask.Load()
	first := unsafe.Pointer(s.index.first.Load())
	tag := bucketTag(hash)
	for i := uint32(hash) & mask; ; i = (i + 1) & mask {
		b := (*word)(unsafe.Add(first, uintptr(i)*8)).Load()
		if b == 0 {
			break
		}
		if b&bucketTagMask != tag {
			continue
		}
		e := s.entryAt(bucketRef(b))
		off := uint64(bucketOff(b))
		seq := e.seq.Load()
		if seq&1 != 0 {
			return h, probeRetry
		}
		// The entry holds key if the key length matches and the bytes at the
		// block's key offset, inside the arena, equal key. It does not compare
		// the hash (the bucket's tag matched, and an entry that changed since
		// is caught by the seq check) nor the block's size (reading inside the
		// arena is enough, as a torn loc is caught the same way).
		lens, loc := e.lens.Load(), e.loc.Load()
		if loc>>32 != off {
			return h, probeRetry
		}
		a := s.arenaRef()
		keyLen, _, _ := unpackLens(lens)
		start := off + blockHeader
		if int(keyLen) == len(key) && start+uint64(len(key)) <= a.size && equalKeyAt(unsafe.Add(a.first, start), key) {
			return hit{e: e, seq: seq, off: off}, probeHit
		}
		if e.seq.Load() != seq {
			return h, probeRetry
		}
	}
	if s.index.seq.Load() != iseq {
		return h, probeRetry
	}
	return h, probeMiss
}

// valid reports whether nothing the reader read of the entry has changed.
func (h *hit) valid() bool { return h.e.seq.Load() == h.seq }

// expiredNow reports whether an entry that expires at expires has expired,
// reading the clock only for a TTL in the future.
func (s *shard) expiredNow(expires int64) bool {
	now := lazyNow{clock: s.clock}
	return expiredAt(expires, &now)
}

// get is Get and GetStale: it reads the value of key into *v, which must
// be Value{Bytes: dst} and is left so on a miss; with stale, an
// expired entry is read too (and not marked as used). It is the Dict's
// method, hashing and looking up in one frame, because every call on the
// request path spills and reloads the values live across it.
func (d *Dict) get(key, dst []byte, stale bool, v *Value) (expired, ok bool) {
	if !validKeyLen(key) {
		return false, false
	}
	s, hash := d.shardFor(key)
	for range maxOptimistic {
		h, p := s.lookup(hash, key)
		switch p {
		case probeMiss:
			// Confirmed under the lock: a Set that moves a key to a new
			// block removes it from the index before it inserts it again,
			// and a walk between the two, with the index's seq even at
			// both ends, sees no key (TestLinearizableKindChanges caught
			// a Get of an always-present key returning none).
			return s.getWithLock(hash, key, dst, stale, v)
		case probeRetry:
			continue
		}
		// No clock read for entries without a TTL.
		expires := h.e.expires.Load()
		expired = expires != 0 && s.expiredNow(expires)
		if expired && !stale {
			if h.valid() {
				return false, false
			}
			continue
		}
		// Byte strings, the common case, are read here; a call to
		// readValue would spill and reload every value live in this frame.
		lens := h.e.lens.Load()
		read := false
		if _, kind, valLen := unpackLens(lens); kind == KindBytes {
			// The value's address comes from the bucket's offset and the
			// caller's key length, both known before the entry arrives.
			loc := h.e.loc.Load()
			v.Kind, v.Flags = kind, uint32(h.e.hashFlags.Load())
			v.Bytes, read = s.arenaRef().appendValueAt(dst, h.off+blockHeader+uint64(len(key)), valLen, loc)
		} else {
			read = s.readValue(h.e, dst, v)
		}
		if read && h.valid() {
			if !expired {
				markRead(h.e, lens)
			}
			return expired, true
		}
		*v = Value{Bytes: dst}
	}
	return s.getWithLock(hash, key, dst, stale, v)
}

// getWithLock is get once the lock-free attempts gave up.
func (s *shard) getWithLock(hash uint64, key, dst []byte, stale bool, v *Value) (expired, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(hash, key, dst, stale, v)
}

// ttl returns the time left before key expires, 0 if it never does.
func (s *shard) ttl(hash uint64, key []byte) (time.Duration, error) {
	for range maxOptimistic {
		h, p := s.lookup(hash, key)
		switch p {
		case probeMiss:
			s.mu.Lock() // confirmed under the lock, as get's misses are
			defer s.mu.Unlock()
			return s.ttlLocked(hash, key)
		case probeRetry:
			continue
		}
		expires := h.e.expires.Load()
		if !h.valid() {
			continue
		}
		now := lazyNow{clock: s.clock}
		if expiredAt(expires, &now) {
			return 0, ErrNotFound
		}
		return ttlLeft(expires, &now), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ttlLocked(hash, key)
}

// incr is Incr and IncrExisting. It adds delta to key's counter without
// the lock if key holds a live KindInt value whose cell can take the
// result, with one atomic add on the cell (cells.go), and takes the shard
// lock when it cannot: the key is missing or expired (the counter must be
// created), holds another kind (the error is decided under the lock), the
// value leaves the cell's range, or writers kept getting in the way. Like
// get, it is the Dict's method so that hashing and the lookup share a frame.
//
// The cell was validated as key's under the entry's seq; it can only stop
// being key's by being frozen, which the add or the swap then sees, so they
// need no second validation. The TTL was checked with one clock read; an
// Incr that races the expiry instant may land just after it, which only
// GetStale can observe.
func (d *Dict) incr(key []byte, delta int64, hasInit bool, init int64, initTTL time.Duration) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if initTTL < 0 {
		return 0, ErrBadTTL
	}
	s, hash := d.shardFor(key)
	for range maxOptimistic {
		h, p := s.lookup(hash, key)
		if p == probeMiss {
			break
		}
		if p == probeRetry {
			continue
		}
		lens, expires := h.e.lens.Load(), h.e.expires.Load()
		c := s.cells.Load().cellAt(h.e.cell.Load())
		if !h.valid() {
			continue
		}
		if _, kind, _ := unpackLens(lens); kind != KindInt || expires != 0 && s.expiredNow(expires) {
			break
		}
		if c == nil {
			continue
		}
		n, done, err, again := addToCounter(c, delta)
		if again {
			continue
		}
		if done {
			if err == nil {
				markRead(h.e, lens)
			}
			return n, err
		}
		break
	}
	return s.incrWithLock(hash, key, delta, hasInit, init, initTTL)
}

// incrWithLock is incr once the lock-free path gave up.
func (s *shard) incrWithLock(hash uint64, key []byte, delta int64, hasInit bool, init int64, initTTL time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.incr(hash, key, delta, hasInit, init, initTTL)
}

// addToCounter adds delta to the counter cell c without the lock: one
// atomic add when the cell holds a fast value and delta is small, a
// compare-and-swap loop for the rest of the cell's range. again means c was
// frozen (the counter ended or moved): look the key up again.
func addToCounter(c *atomic.Uint64, delta int64) (n int64, done bool, err error, again bool) {
	w := c.Load()
	if isFast(int64(w)) && delta >= -maxAddDelta && delta <= maxAddDelta {
		n, done, again = addLoaded(c, delta)
		return n, done, nil, again
	}
	for ; ; w = c.Load() {
		switch {
		case cellFrozenWord(w):
			return 0, false, nil, true
		case cellBigWord(w):
			return 0, false, nil, false
		}
		n, ok := addInt64(int64(w), delta)
		if !ok {
			return 0, true, ErrOverflow, false
		}
		if !isFast(n) {
			return 0, false, nil, false
		}
		if c.CompareAndSwap(w, uint64(n)) {
			return n, true, nil, false
		}
	}
}

// addLoaded is the atomic add of addToCounter, on a cell that held a fast
// value when the caller loaded it, with |delta| <= maxAddDelta. The lock
// holder may have frozen the cell or moved its value to the entry since:
// the add then lands on a marker, whose region absorbs it (cells.go), and
// did not count.
func addLoaded(c *atomic.Uint64, delta int64) (n int64, done, again bool) {
	sum := c.Add(uint64(delta))
	switch old := sum - uint64(delta); {
	case cellValue(old):
		return int64(sum), true, false
	case cellFrozenWord(old):
		c.Add(-uint64(delta)) // frozen is final: take the add back
		return 0, false, true
	}
	return 0, false, false // big: the value is in the entry, under the lock
}
