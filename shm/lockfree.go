package shm

import "time"

// The lock-free paths: Get, GetStale, TTL and Incr on an existing counter
// find their entry and read it (or swap its counter cell) without the shard
// lock. Every word they read is loaded atomically, and they validate what
// they read with two sequence numbers:
//
//   - the entry's seq (beginWrite/endWrite): even and unchanged across the
//     reads means no writer touched the entry, its arena bytes or its cell
//     id meanwhile, so the key matched and the value is one that was stored;
//   - the index's seq: a miss is only trusted if no writer changed buckets
//     during the walk (a backward shift could have hidden the key).
//
// A reader that sees a writer at work retries; after maxOptimistic failed
// attempts it takes the shard lock, so a reader always finishes even if
// writers keep the entry busy. Readers write nothing but the CLOCK bit.

// maxOptimistic is how many lock-free attempts an operation makes before it
// takes the shard lock.
const maxOptimistic = 8

type probe uint8

const (
	probeHit   probe = iota // e holds key; validate with e.seq == seq
	probeMiss               // key is absent
	probeRetry              // a writer got in the way
)

// lookup finds key without the lock. On probeHit, e is its entry and seq
// the even sequence number under which its key matched: the caller reads
// what it needs from e, and the reads are valid if e.seq.Load() == seq.
func (s *shard) lookup(hash uint64, key []byte) (e *entry, seq uint64, r probe) {
	iseq := s.index.seq.Load()
	if iseq&1 != 0 {
		return nil, 0, probeRetry
	}
	t := s.index.table()
	tag := uint32(hash)
	for i := tag & t.mask; ; i = (i + 1) & t.mask {
		b := t.buckets[i].Load()
		if b == 0 {
			break
		}
		if uint32(b) != tag {
			continue
		}
		e = s.entryAt(bucketSlot(b))
		seq = e.seq.Load()
		if seq&1 != 0 {
			return nil, 0, probeRetry
		}
		if s.keyAt(e, key) {
			return e, seq, probeHit
		}
		if e.seq.Load() != seq {
			return nil, 0, probeRetry
		}
	}
	if s.index.seq.Load() != iseq {
		return nil, 0, probeRetry
	}
	return nil, 0, probeMiss
}

// keyAt reports whether e holds key, as far as reads that the caller then
// validates with e's seq can tell.
//
// It does not compare the hash: the bucket's tag matched, and an entry that
// changed since is caught by the seq check.
func (s *shard) keyAt(e *entry, key []byte) bool {
	keyLen, _, _ := unpackLens(e.lens.Load())
	if int(keyLen) != len(key) {
		return false
	}
	off, size := unpackLoc(e.loc.Load())
	a := s.arenaView() // after e.seq: at least as new as e's block
	if uint64(off)+uint64(size) > uint64(8*len(a.words)) || keyLen+blockHeader > size {
		return false
	}
	return a.equalKey(int(off)+blockHeader, key)
}

// get is Get and GetStale: it reads the value of key into *v (left as
// {Bytes: dst} on a miss); with stale, an expired entry is read too (and not
// marked as used).
func (s *shard) get(hash uint64, key, dst []byte, stale bool, v *Value) (expired, ok bool) {
	for range maxOptimistic {
		e, seq, r := s.lookup(hash, key)
		switch r {
		case probeMiss:
			return false, false
		case probeRetry:
			continue
		}
		now := lazyNow{clock: s.clock}
		expired = expiredAt(e.expires.Load(), &now)
		if expired && !stale {
			if e.seq.Load() == seq {
				return false, false
			}
			continue
		}
		if s.readValue(e, dst, v) && e.seq.Load() == seq {
			if !expired {
				markUsed(e)
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
	for range maxOptimistic {
		e, seq, r := s.lookup(hash, key)
		switch r {
		case probeMiss:
			return 0, ErrNotFound
		case probeRetry:
			continue
		}
		expires := e.expires.Load()
		if e.seq.Load() != seq {
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
// value whose cell can take the result, with one compare-and-swap on the
// cell. It reports done == false when the operation needs the shard lock:
// the key is missing or expired (the counter must be created), holds
// another kind (the error is decided under the lock), the value leaves the
// cell's range, or writers kept getting in the way.
//
// The cell was validated as key's under the entry's seq; it can only stop
// being key's by being frozen, which makes the swap fail (cells.go), so the
// swap itself needs no second validation. The TTL was checked with one
// clock read; an Incr that races the expiry instant may land just after it,
// which only GetStale can observe.
func (s *shard) incrExisting(hash uint64, key []byte, delta int64) (n int64, done bool, err error) {
	for range maxOptimistic {
		e, seq, r := s.lookup(hash, key)
		switch r {
		case probeMiss:
			return 0, false, nil
		case probeRetry:
			continue
		}
		_, kind, _ := unpackLens(e.lens.Load())
		expires := e.expires.Load()
		c := s.cells.Load().cellAt(e.cell.Load())
		if e.seq.Load() != seq {
			continue
		}
		now := lazyNow{clock: s.clock}
		if kind != KindInt || expiredAt(expires, &now) {
			return 0, false, nil
		}
		if c == nil {
			continue
		}
		for {
			w := c.Load()
			if w == cellFrozen {
				break // the counter ended or moved: look it up again
			}
			if w == cellBig {
				return 0, false, nil
			}
			n, ok := addInt64(int64(w), delta)
			if !ok {
				return 0, true, ErrOverflow
			}
			if !isFast(n) {
				return 0, false, nil
			}
			if c.CompareAndSwap(w, uint64(n)) {
				markUsed(e)
				return n, true, nil
			}
		}
	}
	return 0, false, nil
}
