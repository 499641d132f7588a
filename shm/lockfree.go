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
//     reads means no writer touched the entry, its arena bytes or its cell
//     id meanwhile, so the key matched and the value is one that was stored;
//   - the index's seq: a miss is only trusted if no writer changed buckets
//     during the walk (a backward shift could have hidden the key).
//
// A hit costs one load of the entry's seq before its reads and one after
// (an Incr adds to its cell after that validation, cells.go). A reader
// that sees a writer at work retries; after maxOptimistic failed attempts
// it takes the shard lock, so a reader always finishes even if writers keep
// the entry busy. Readers write nothing but the CLOCK bit, and only while it
// is clear.

// maxOptimistic is how many lock-free attempts an operation makes before it
// takes the shard lock.
const maxOptimistic = 8

type probe uint8

const (
	probeHit   probe = iota // e holds key; validate with e.seq == seq
	probeMiss               // key is absent
	probeRetry              // a writer got in the way
)

// hit is what lookup read of the entry holding the key: the caller reads
// what else it needs from e, and everything it read is valid if e.seq still
// holds seq afterwards. lens, loc and the arena were loaded after seq.
type hit struct {
	e         *entry
	seq       uint64
	lens, loc uint64
	arena     arena
}

// lookup finds key without the lock. On probeHit, *h describes the entry
// that holds it.
//
// It walks the current index table with raw pointer arithmetic: the mask is
// loaded before the table's first bucket and a grown table is published the
// other way round (index.publish), so i&mask is always inside the table it
// indexes, and the walk needs no bounds checks.
func (s *shard) lookup(hash uint64, key []byte, h *hit) probe {
	iseq := s.index.seq.Load()
	if iseq&1 != 0 {
		return probeRetry
	}
	mask := s.index.mask.Load()
	first := unsafe.Pointer(s.index.first.Load())
	tag := uint32(hash)
	for i := tag & mask; ; i = (i + 1) & mask {
		b := (*word)(unsafe.Add(first, uintptr(i)*8)).Load()
		if b == 0 {
			break
		}
		if uint32(b) != tag {
			continue
		}
		e := s.entry(bucketSlot(b))
		seq := e.seq.Load()
		if seq&1 != 0 {
			return probeRetry
		}
		lens, loc, a := e.lens.Load(), e.loc.Load(), s.arenaView()
		if holdsKey(lens, loc, a, key) {
			// Field by field: a hit built as a literal and copied out is
			// written with narrow stores and read back with wide loads, a
			// store-forwarding stall.
			h.e, h.seq, h.lens, h.loc, h.arena = e, seq, lens, loc, a
			return probeHit
		}
		if e.seq.Load() != seq {
			return probeRetry
		}
	}
	if s.index.seq.Load() != iseq {
		return probeRetry
	}
	return probeMiss
}

// holdsKey reports whether the entry whose lens and loc were loaded, with
// a the arena loaded after them, holds key, as far as reads that the caller
// then validates with the entry's seq can tell.
//
// It does not compare the hash: the bucket's tag matched, and an entry that
// changed since is caught by the seq check. Nor does it check the block's
// size: reading inside the arena is enough, as a torn loc is caught the
// same way.
func holdsKey(lens, loc uint64, a arena, key []byte) bool {
	keyLen, _, _ := unpackLens(lens)
	if int(keyLen) != len(key) {
		return false
	}
	off, _ := unpackLoc(loc)
	if uint64(off)+blockHeader+uint64(keyLen) > 8*uint64(len(a.words)) {
		return false
	}
	return a.equalKey(int(off)+blockHeader, key)
}

// valid reports whether nothing the reader read of the entry has changed.
func (h *hit) valid() bool { return h.e.seq.Load() == h.seq }

// markUsed sets the entry's CLOCK bit unless lookup saw it set.
func (h *hit) markUsed() {
	if h.lens&refBit == 0 {
		h.e.lens.CompareAndSwap(h.lens, h.lens|refBit)
	}
}

// get is Get and GetStale: it reads the value of key into *v (left as
// {Bytes: dst} on a miss); with stale, an expired entry is read too (and not
// marked as used).
func (s *shard) get(hash uint64, key, dst []byte, stale bool, v *Value) (expired, ok bool) {
	var h hit
	for range maxOptimistic {
		switch s.lookup(hash, key, &h) {
		case probeMiss:
			return false, false
		case probeRetry:
			continue
		}
		expired = false // no clock read for entries without a TTL
		if expires := h.e.expires.Load(); expires != 0 {
			now := lazyNow{clock: s.clock}
			expired = expiredAt(expires, &now)
		}
		if expired && !stale {
			if h.valid() {
				return false, false
			}
			continue
		}
		if s.readFields(h.e, h.lens, h.loc, h.arena, dst, v) && h.valid() {
			if !expired {
				h.markUsed()
			}
			return expired, true
		}
		*v = Value{Bytes: dst}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(hash, key, dst, stale, v)
}

// ttl returns the time left before key expires, 0 if it never does.
func (s *shard) ttl(hash uint64, key []byte) (time.Duration, error) {
	var h hit
	for range maxOptimistic {
		switch s.lookup(hash, key, &h) {
		case probeMiss:
			return 0, ErrNotFound
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

// incrExisting adds delta to key's counter if key holds a live KindInt
// value whose cell can take the result, with one atomic add on the cell
// (cells.go). It reports done == false when the operation needs the shard
// lock: the key is missing or expired (the counter must be created), holds
// another kind (the error is decided under the lock), the value leaves the
// cell's range, or writers kept getting in the way.
//
// The cell was validated as key's under the entry's seq; it can only stop
// being key's by being frozen, which the add or the swap then sees, so they
// need no second validation. The TTL was checked with one clock read; an
// Incr that races the expiry instant may land just after it, which only
// GetStale can observe.
func (s *shard) incrExisting(hash uint64, key []byte, delta int64) (n int64, done bool, err error) {
	var h hit
	for range maxOptimistic {
		switch s.lookup(hash, key, &h) {
		case probeMiss:
			return 0, false, nil
		case probeRetry:
			continue
		}
		expires := h.e.expires.Load()
		c := s.cells.Load().cellAt(h.e.cell.Load())
		if !h.valid() {
			continue
		}
		if _, kind, _ := unpackLens(h.lens); kind != KindInt {
			return 0, false, nil
		}
		if expires != 0 {
			now := lazyNow{clock: s.clock}
			if expiredAt(expires, &now) {
				return 0, false, nil
			}
		}
		if c == nil {
			continue
		}
		n, done, err, again := addToCounter(c, delta)
		if again {
			continue
		}
		if done && err == nil {
			h.markUsed()
		}
		return n, done, err
	}
	return 0, false, nil
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
