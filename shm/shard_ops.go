package shm

import (
	"math"
	"time"
)

// The methods in this file are the per-shard halves of Dict's operations
// that run with s.mu held by the caller: every write, and the reads when
// the lock-free path (lockfree.go) gave up.

// storeOp says which write semantics a store has.
type storeOp uint8

const (
	opSet     storeOp = iota // always write
	opAdd                    // write only if absent or expired
	opReplace                // write only if present and live
)

// readValue copies e's value into *v, which holds {Bytes: dst}, appending
// byte strings to dst and setting only the fields of the value's kind. It
// reads the way lock-free readers must (words with atomic loads, bytes with
// the arena's copy, loc before the arena), so they use it too; it returns
// false if what it read cannot be a stable entry (a frozen cell, a block
// outside the arena), which only happens to a lock-free reader racing a
// writer, and which the reader's seqlock check would reject anyway.
//
// It fills the caller's Value in place: a 56-byte struct returned through
// every layer cost a third of a Get, and a composite literal is built on
// the stack with narrow stores and copied with wide loads, a
// store-forwarding stall.
func (s *shard) readValue(e *entry, dst []byte, v *Value) bool {
	keyLen, kind, valLen := unpackLens(e.lens.Load())
	v.Kind, v.Flags = kind, uint32(e.hashFlags.Load())
	switch kind {
	case KindBytes:
		loc := e.loc.Load()
		var ok bool
		v.Bytes, ok = s.arenaRef().appendValue(dst, keyLen, valLen, loc)
		return ok
	case KindInt:
		n, ok := s.loadInt(e)
		v.Int = n
		return ok
	case KindFloat:
		v.Float = math.Float64frombits(e.num.Load())
	case KindBool:
		v.Bool = e.num.Load() != 0
	}
	return true
}

// appendValue appends the byte-string value of an entry, whose lens gave
// keyLen and valLen and whose loc was loaded before a, to dst. It returns
// false, and dst, if the block is not inside a, which only a lock-free
// reader racing a writer sees.
func (a arenaRef) appendValue(dst []byte, keyLen, valLen uint32, loc uint64) ([]byte, bool) {
	off, _ := unpackLoc(loc)
	return a.appendValueAt(dst, uint64(off)+blockHeader+uint64(keyLen), valLen, loc)
}

// appendValueAt is appendValue with the value's arena offset at computed by
// the caller: a lock-free reader computes it from the index bucket's block
// offset, which it checked equals loc's.
func (a arenaRef) appendValueAt(dst []byte, at uint64, valLen uint32, loc uint64) ([]byte, bool) {
	off, size := unpackLoc(loc)
	if at+uint64(valLen) > uint64(off)+uint64(size) || uint64(off)+uint64(size) > a.size {
		return dst, false
	}
	return a.appendBytes(dst, at, int(valLen)), true
}

// loadInt reads the value of a KindInt entry from its cell.
func (s *shard) loadInt(e *entry) (int64, bool) {
	c := s.cells.Load().cellAt(e.cell.Load())
	if c == nil {
		return 0, false
	}
	switch w := c.Load(); {
	case cellValue(w):
		return int64(w), true
	case cellBigWord(w):
		return int64(e.num.Load()), true
	}
	return 0, false // frozen
}

// getLocked reads the value of key into *v (left alone on a miss); with
// stale, an expired entry is read too (and not marked as used).
func (s *shard) getLocked(hash uint64, key, dst []byte, stale bool, v *Value) (expired, ok bool) {
	slot := s.find(hash, key)
	if slot == 0 {
		return false, false
	}
	e := s.entry(slot)
	now := lazyNow{clock: s.clock}
	expired = expiredAt(e.expires.Load(), &now)
	if expired && !stale {
		return false, false
	}
	s.readValue(e, dst, v)
	if !expired {
		markUsed(e)
	}
	return expired, true
}

// markUsed sets e's CLOCK bit, only if it is clear so that readers of a hot
// key do not keep writing its cache line. If a writer changes lens at the
// same moment the swap fails and the bit stays clear: the write put the
// entry at the list head anyway.
func markUsed(e *entry) { markRead(e, e.lens.Load()) }

// markRead is markUsed for a lock-free reader that validated lens as e's:
// the swap sets the bit on that state only, and fails if a writer has
// changed lens since.
func markRead(e *entry, lens uint64) {
	if lens&refBit == 0 {
		e.lens.CompareAndSwap(lens, lens|refBit)
	}
}

// setInPlace overwrites slot's value; the caller checked it fits the block.
//
// A write that changes nothing a reader can see (the same value, flags and
// expiry: a cache refill, a health state written again) only moves the
// entry to the list head, and one that only changes a counter's value
// stores it in the cell, like an Incr: neither needs the seqlock, so
// readers of the key are not sent back to retry.
func (s *shard) setInPlace(slot uint32, v *Value, expires int64) {
	e := s.entry(slot)
	lens := e.lens.Load()
	keyLen, oldKind, _ := unpackLens(lens)
	newLens := packLens(int(keyLen), v.Kind, v.payload())
	hashFlags := e.hashFlags.Load()&^math.MaxUint32 | uint64(v.Flags)
	if lens&^refBit == newLens && e.hashFlags.Load() == hashFlags && e.expires.Load() == expires &&
		s.storedAs(e, v) {
		s.touch(slot)
		return
	}
	var cell uint64
	if v.Kind == KindInt && oldKind != KindInt {
		cell = s.newCell(v.Int) // before beginWrite: it may move cells
	}
	beginWrite(e)
	s.storeNumber(e, oldKind, v, cell)
	if v.Kind == KindBytes {
		off, _ := unpackLoc(e.loc.Load())
		s.arenaView().writeBytes(int(off)+blockHeader+int(keyLen), v.Bytes)
	}
	storeChanged(&e.hashFlags, hashFlags)
	storeChanged(&e.lens, newLens) // clears refBit too
	if e.expires.Load() != expires {
		e.expires.Store(expires)
	}
	endWrite(e)
	s.touch(slot)
}

// storedAs reports whether e, of v's kind, holds v's value, or can be made
// to with one store to its counter cell, which it then does. The caller
// holds the lock, so the cell only changes by lock-free adds meanwhile,
// never to a marker.
func (s *shard) storedAs(e *entry, v *Value) bool {
	switch v.Kind {
	case KindBytes:
		off, _ := unpackLoc(e.loc.Load())
		keyLen, _, _ := unpackLens(e.lens.Load())
		start := int(off) + blockHeader + int(keyLen)
		return string(s.arenaView().bytes()[start:start+len(v.Bytes)]) == string(v.Bytes)
	case KindInt:
		c := s.cells.Load().cellAt(e.cell.Load())
		if !isFast(v.Int) || !cellValue(c.Load()) {
			return false // the value moves between the cell and e.num
		}
		c.Store(uint64(v.Int))
		return true
	}
	return e.num.Load() == v.numBits()
}

// storeNumber stores v's number (if any) in e, whose kind was oldKind: an
// int64 goes to e's cell (newCell, if e had none), a float or bool to
// e.num, and a cell the value no longer needs is freed. The caller holds e
// between beginWrite and endWrite.
func (s *shard) storeNumber(e *entry, oldKind Kind, v *Value, newCell uint64) {
	if oldKind == KindInt && v.Kind != KindInt {
		s.freeCell(e.cell.Load())
	}
	switch v.Kind {
	case KindInt:
		if !isFast(v.Int) {
			e.num.Store(uint64(v.Int))
		}
		if oldKind == KindInt {
			// Lock-free Incrs may be adding to this cell: a Store wins or
			// loses against each of them like any other write.
			s.cells.Load().cellAt(e.cell.Load()).Store(cellWord(v.Int))
		} else {
			e.cell.Store(newCell)
		}
	case KindFloat, KindBool:
		storeChanged(&e.num, v.numBits())
	}
}

// storeChanged stores w in x unless x already holds it: with the portable
// seqlock each store is a locked instruction on amd64 (word). Only for
// fields a single writer (the lock holder) changes.
func storeChanged(x *word, w uint64) {
	if x.Load() != w {
		x.Store(w)
	}
}

// store implements Set, SafeSet, Add, SafeAdd and Replace.
func (s *shard) store(hash uint64, key []byte, v *Value, ttl time.Duration, op storeOp, safe bool) error {
	now := lazyNow{clock: s.clock}
	slot := s.find(hash, key)
	if slot != 0 {
		live := !expiredAt(s.entry(slot).expires.Load(), &now)
		switch {
		case op == opAdd && live:
			return ErrExists
		case op == opReplace && !live:
			return ErrNotFound
		}
		if v.payload() <= valueRoom(s.entry(slot)) {
			s.setInPlace(slot, v, expiresAt(&now, int64(ttl)))
			return nil
		}
	} else if op == opReplace {
		return ErrNotFound
	}
	return s.insert(hash, key, v, expiresAt(&now, int64(ttl)), slot, safe, &now)
}

// insert writes key as a new block, replacing old (a slot holding the same
// key whose block is too small, or 0).
func (s *shard) insert(hash uint64, key []byte, v *Value, expires int64, old uint32, safe bool, now *lazyNow) error {
	size := blockSize(len(key), v.payload())
	if size+entryOverhead > s.capacity {
		return ErrValueTooLarge
	}
	s.sweepExpired(now, sweepOnWrite, old)
	if safe {
		used := s.used() + size + entryOverhead
		if old != 0 {
			_, oldSize := unpackLoc(s.entry(old).loc.Load())
			used -= int64(oldSize) + entryOverhead
		}
		if used > s.capacity {
			return ErrNoMemory
		}
	}
	if old != 0 {
		s.remove(old)
	}
	off, err := s.alloc(size, safe)
	if err != nil {
		return err
	}
	var cell uint64
	if v.Kind == KindInt {
		cell = s.newCell(v.Int)
	}
	slot := s.newSlot()
	e := s.entry(slot)
	var val []byte
	if v.Kind == KindBytes {
		val = v.Bytes
	}
	beginWrite(e)
	e.hashFlags.Store(packHashFlags(hash, v.Flags))
	e.loc.Store(packLoc(off, uint32(size)))
	e.lens.Store(packLens(len(key), v.Kind, len(val)))
	e.expires.Store(expires)
	s.storeNumber(e, KindNone, v, cell)
	s.writeBlock(slot, off, uint32(size), key, val)
	endWrite(e)
	s.index.insert(slot, hash, off)
	s.pushFront(slot)
	s.live += size
	s.count++
	return nil
}

// liveSlot returns the slot of key if it is present and not expired.
func (s *shard) liveSlot(hash uint64, key []byte, now *lazyNow) uint32 {
	slot := s.find(hash, key)
	if slot == 0 || expiredAt(s.entry(slot).expires.Load(), now) {
		return 0
	}
	return slot
}

// incr adds delta to an int64 counter. A missing or expired key becomes
// init+delta with initTTL when hasInit, else ErrNotFound. Lock-free Incrs
// may be adding to the same cell meanwhile, so the cell is changed only by
// compare-and-swap, or while a value outside the cell's range moves in or
// out (cells.go).
func (s *shard) incr(hash uint64, key []byte, delta int64, hasInit bool, init int64, initTTL time.Duration) (int64, error) {
	now := lazyNow{clock: s.clock}
	slot := s.find(hash, key)
	if slot != 0 && !expiredAt(s.entry(slot).expires.Load(), &now) {
		e := s.entry(slot)
		switch _, kind, _ := unpackLens(e.lens.Load()); kind {
		case KindInt:
		case KindFloat:
			return 0, ErrNotAnInteger
		default:
			return 0, ErrNotANumber
		}
		n, err := s.addToCell(e, delta)
		if err == nil {
			markUsed(e)
		}
		return n, err
	}
	if !hasInit {
		return 0, ErrNotFound
	}
	n, ok := addInt64(init, delta)
	if !ok {
		return 0, ErrOverflow
	}
	v := IntValue(n)
	return n, s.initNumber(hash, key, slot, &v, initTTL, &now)
}

// addToCell adds delta to a live counter under the lock.
func (s *shard) addToCell(e *entry, delta int64) (int64, error) {
	c := s.cells.Load().cellAt(e.cell.Load())
	for {
		w := c.Load()
		big := cellBigWord(w)
		cur := int64(w)
		if big {
			cur = int64(e.num.Load())
		}
		n, ok := addInt64(cur, delta)
		if !ok {
			return 0, ErrOverflow
		}
		if !big && isFast(n) {
			if c.CompareAndSwap(w, uint64(n)) {
				return n, nil
			}
			continue
		}
		// The value moves between the cell and e.num: readers must not see
		// the halfway state, and lock-free Incrs must miss the cell.
		beginWrite(e)
		switch {
		case big && isFast(n):
			c.Store(uint64(n)) // lock-free adds on the marker did not count
		case big:
			e.num.Store(uint64(n))
		default:
			e.num.Store(uint64(n))
			if !c.CompareAndSwap(w, cellBig) {
				endWrite(e) // a lock-free Incr got there first: again
				continue
			}
		}
		endWrite(e)
		return n, nil
	}
}

// incrFloat is incr for float64 counters; an int64 value is converted.
func (s *shard) incrFloat(hash uint64, key []byte, delta, init float64, initTTL time.Duration) (float64, error) {
	now := lazyNow{clock: s.clock}
	slot := s.find(hash, key)
	if slot != 0 && !expiredAt(s.entry(slot).expires.Load(), &now) {
		e := s.entry(slot)
		keyLen, kind, _ := unpackLens(e.lens.Load())
		var f float64
		beginWrite(e)
		switch kind {
		case KindInt:
			n := int64(s.freeCell(e.cell.Load()))
			if cellBigWord(uint64(n)) {
				n = int64(e.num.Load())
			}
			f = float64(n)
		case KindFloat:
			f = math.Float64frombits(e.num.Load())
		default:
			endWrite(e)
			return 0, ErrNotANumber
		}
		f += delta
		e.num.Store(math.Float64bits(f))
		e.lens.Store(packLens(int(keyLen), KindFloat, 0))
		endWrite(e)
		s.touch(slot)
		return f, nil
	}
	f := init + delta
	v := FloatValue(f)
	return f, s.initNumber(hash, key, slot, &v, initTTL, &now)
}

// initNumber stores a counter's initial value, reusing an expired entry's
// block when there is one (a number needs no value bytes), with flags 0.
func (s *shard) initNumber(hash uint64, key []byte, expiredSlot uint32, v *Value, ttl time.Duration, now *lazyNow) error {
	if expiredSlot != 0 {
		s.setInPlace(expiredSlot, v, expiresAt(now, int64(ttl)))
		return nil
	}
	return s.insert(hash, key, v, expiresAt(now, int64(ttl)), 0, false, now)
}

// addInt64 returns a+b and false on overflow.
func addInt64(a, b int64) (int64, bool) {
	c := a + b
	if (c > a) != (b > 0) {
		return a, false
	}
	return c, true
}

// ttlLocked returns the time left before key expires, 0 if it never does.
func (s *shard) ttlLocked(hash uint64, key []byte) (time.Duration, error) {
	now := lazyNow{clock: s.clock}
	slot := s.liveSlot(hash, key, &now)
	if slot == 0 {
		return 0, ErrNotFound
	}
	return ttlLeft(s.entry(slot).expires.Load(), &now), nil
}

func ttlLeft(expires int64, now *lazyNow) time.Duration {
	if expires == 0 {
		return 0
	}
	return time.Duration(expires - now.get())
}

// expire sets key's TTL; 0 means never.
func (s *shard) expire(hash uint64, key []byte, ttl time.Duration) error {
	now := lazyNow{clock: s.clock}
	slot := s.liveSlot(hash, key, &now)
	if slot == 0 {
		return ErrNotFound
	}
	e := s.entry(slot)
	beginWrite(e)
	e.expires.Store(expiresAt(&now, int64(ttl)))
	endWrite(e)
	return nil
}

// delete removes key, reporting whether it was present and live.
func (s *shard) delete(hash uint64, key []byte) bool {
	slot := s.find(hash, key)
	if slot == 0 {
		return false
	}
	now := lazyNow{clock: s.clock}
	live := !expiredAt(s.entry(slot).expires.Load(), &now)
	s.remove(slot)
	return live
}

// flushAll marks every entry expired; GetStale still sees them until they
// are swept, evicted or overwritten.
func (s *shard) flushAll() {
	for slot := s.sentinel().next; slot != 0; slot = s.entry(slot).next {
		e := s.entry(slot)
		beginWrite(e)
		e.expires.Store(flushedExpiry)
		endWrite(e)
	}
}

// flushExpired removes up to max expired entries (all when max <= 0),
// oldest first, and returns how many it removed.
func (s *shard) flushExpired(max int) int {
	now := lazyNow{clock: s.clock}
	n := 0
	for slot := s.tail(); slot != 0 && (max <= 0 || n < max); {
		prev := s.entry(slot).prev
		if expiredAt(s.entry(slot).expires.Load(), &now) {
			s.drop(slot, removedExpired)
			n++
		}
		slot = prev
	}
	return n
}

// appendKeys appends up to max live keys (all when max <= 0), in list order:
// most recently written first.
func (s *shard) appendKeys(keys []string, max int) []string {
	now := lazyNow{clock: s.clock}
	for slot := s.sentinel().next; slot != 0 && (max <= 0 || len(keys) < max); slot = s.entry(slot).next {
		if !expiredAt(s.entry(slot).expires.Load(), &now) {
			keys = append(keys, string(s.key(slot)))
		}
	}
	return keys
}
