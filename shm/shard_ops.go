package shm

import (
	"math"
	"time"
)

// The methods in this file are the per-shard halves of Dict's operations.
// Each runs with s.mu held by the caller.

// storeOp says which write semantics a store has.
type storeOp uint8

const (
	opSet     storeOp = iota // always write
	opAdd                    // write only if absent or expired
	opReplace                // write only if present and live
)

// read copies slot's value into *v, appending byte strings to dst. It fills
// the caller's Value in place: a 56-byte struct returned through every layer
// cost a third of a Get.
func (s *shard) read(slot uint32, dst []byte, v *Value) {
	e := &s.entries[slot]
	*v = Value{Kind: e.kind, Flags: e.flags, Bytes: dst}
	switch e.kind {
	case KindBytes:
		v.Bytes = append(dst, s.value(slot)...)
	case KindInt:
		v.Int = int64(e.num)
	case KindFloat:
		v.Float = math.Float64frombits(e.num)
	case KindBool:
		v.Bool = e.num != 0
	}
}

// get reads the value of key into *v (left alone on a miss); with stale, an
// expired entry is read too (and not touched).
func (s *shard) get(hash uint64, key, dst []byte, stale bool, v *Value) (expired, ok bool) {
	slot := s.find(hash, key)
	if slot == 0 {
		return false, false
	}
	now := lazyNow{clock: s.clock}
	if s.entries[slot].expiredAt(&now) {
		if !stale {
			return false, false
		}
		s.read(slot, dst, v)
		return true, true
	}
	s.touch(slot)
	s.read(slot, dst, v)
	return false, true
}

// setInPlace overwrites slot's value; the caller checked it fits the block.
func (s *shard) setInPlace(slot uint32, v *Value, expires int64) {
	e := &s.entries[slot]
	e.kind = v.Kind
	e.flags = v.Flags
	e.expires = expires
	e.num = v.numBits()
	e.valLen = 0
	if v.Kind == KindBytes {
		e.valLen = uint32(len(v.Bytes))
		copy(s.arena[e.off+blockHeader+e.keyLen:], v.Bytes)
	}
	s.touch(slot)
}

// store implements Set, SafeSet, Add, SafeAdd and Replace.
func (s *shard) store(hash uint64, key []byte, v *Value, ttl time.Duration, op storeOp, safe bool) error {
	now := lazyNow{clock: s.clock}
	slot := s.find(hash, key)
	if slot != 0 {
		live := !s.entries[slot].expiredAt(&now)
		switch {
		case op == opAdd && live:
			return ErrExists
		case op == opReplace && !live:
			return ErrNotFound
		}
		if v.payload() <= s.valueRoom(slot) {
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
			used -= int64(s.entries[old].size) + entryOverhead
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
	slot := s.newSlot()
	e := &s.entries[slot]
	e.hash = hash
	e.off = off
	e.size = uint32(size)
	e.keyLen = uint32(len(key))
	e.kind = v.Kind
	e.flags = v.Flags
	e.expires = expires
	e.num = v.numBits()
	var val []byte
	if v.Kind == KindBytes {
		val = v.Bytes
		e.valLen = uint32(len(val))
	}
	s.writeBlock(slot, key, val)
	s.index.insert(slot, hash)
	s.pushFront(slot)
	s.live += size
	s.count++
	return nil
}

// liveSlot returns the slot of key if it is present and not expired.
func (s *shard) liveSlot(hash uint64, key []byte, now *lazyNow) uint32 {
	slot := s.find(hash, key)
	if slot == 0 || s.entries[slot].expiredAt(now) {
		return 0
	}
	return slot
}

// incr adds delta to an int64 counter. A missing or expired key becomes
// init+delta with initTTL when hasInit, else ErrNotFound.
func (s *shard) incr(hash uint64, key []byte, delta int64, hasInit bool, init int64, initTTL time.Duration) (int64, error) {
	now := lazyNow{clock: s.clock}
	slot := s.find(hash, key)
	if slot != 0 && !s.entries[slot].expiredAt(&now) {
		e := &s.entries[slot]
		switch e.kind {
		case KindInt:
		case KindFloat:
			return 0, ErrNotAnInteger
		default:
			return 0, ErrNotANumber
		}
		n, ok := addInt64(int64(e.num), delta)
		if !ok {
			return 0, ErrOverflow
		}
		e.num = uint64(n)
		s.touch(slot)
		return n, nil
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

// incrFloat is incr for float64 counters; an int64 value is converted.
func (s *shard) incrFloat(hash uint64, key []byte, delta, init float64, initTTL time.Duration) (float64, error) {
	now := lazyNow{clock: s.clock}
	slot := s.find(hash, key)
	if slot != 0 && !s.entries[slot].expiredAt(&now) {
		e := &s.entries[slot]
		var f float64
		switch e.kind {
		case KindInt:
			f = float64(int64(e.num))
		case KindFloat:
			f = math.Float64frombits(e.num)
		default:
			return 0, ErrNotANumber
		}
		f += delta
		e.kind = KindFloat
		e.num = math.Float64bits(f)
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

// ttl returns the time left before key expires, 0 if it never does.
func (s *shard) ttl(hash uint64, key []byte) (time.Duration, error) {
	now := lazyNow{clock: s.clock}
	slot := s.liveSlot(hash, key, &now)
	if slot == 0 {
		return 0, ErrNotFound
	}
	e := &s.entries[slot]
	if e.expires == 0 {
		return 0, nil
	}
	return time.Duration(e.expires - now.get()), nil
}

// expire sets key's TTL; 0 means never.
func (s *shard) expire(hash uint64, key []byte, ttl time.Duration) error {
	now := lazyNow{clock: s.clock}
	slot := s.liveSlot(hash, key, &now)
	if slot == 0 {
		return ErrNotFound
	}
	s.entries[slot].expires = expiresAt(&now, int64(ttl))
	return nil
}

// delete removes key, reporting whether it was present and live.
func (s *shard) delete(hash uint64, key []byte) bool {
	slot := s.find(hash, key)
	if slot == 0 {
		return false
	}
	now := lazyNow{clock: s.clock}
	live := !s.entries[slot].expiredAt(&now)
	s.remove(slot)
	return live
}

// flushAll marks every entry expired; GetStale still sees them until they
// are swept, evicted or overwritten.
func (s *shard) flushAll() {
	for slot := s.entries[0].next; slot != 0; slot = s.entries[slot].next {
		s.entries[slot].expires = flushedExpiry
	}
}

// flushExpired removes up to max expired entries (all when max <= 0),
// oldest first, and returns how many it removed.
func (s *shard) flushExpired(max int) int {
	now := lazyNow{clock: s.clock}
	n := 0
	for slot := s.tail(); slot != 0 && (max <= 0 || n < max); {
		prev := s.entries[slot].prev
		if s.entries[slot].expiredAt(&now) {
			s.drop(slot, removedExpired)
			n++
		}
		slot = prev
	}
	return n
}

// appendKeys appends up to max live keys (all when max <= 0), most recently
// used first.
func (s *shard) appendKeys(keys []string, max int) []string {
	now := lazyNow{clock: s.clock}
	for slot := s.entries[0].next; slot != 0 && (max <= 0 || len(keys) < max); slot = s.entries[slot].next {
		if !s.entries[slot].expiredAt(&now) {
			keys = append(keys, string(s.key(slot)))
		}
	}
	return keys
}
