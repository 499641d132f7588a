package shm

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injectable clock tests advance by hand.
type fakeClock struct{ now atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.now.Store(int64(time.Hour)) // start away from 0 to catch "0 means never" slips
	return c
}

func (c *fakeClock) Now() int64              { return c.now.Load() }
func (c *fakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

func mustNew(tb testing.TB, capacity int64, opts ...Option) *Dict {
	tb.Helper()
	d, err := New(capacity, opts...)
	if err != nil {
		tb.Fatalf("New(%d): %v", capacity, err)
	}
	return d
}

// checkInvariants verifies every shard's internal structure: the LRU list,
// the index, the free list, the arena headers and the capacity accounting.
func checkInvariants(tb testing.TB, d *Dict) {
	tb.Helper()
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		err := s.verify()
		s.mu.Unlock()
		if err != nil {
			tb.Fatalf("shard %d: %v", i, err)
		}
	}
}

func (s *shard) verify() error {
	seen := make(map[uint32]bool)
	var live int64
	prev := uint32(0)
	for slot := s.entries[0].next; slot != 0; slot = s.entries[slot].next {
		if seen[slot] {
			return fmt.Errorf("LRU cycle at slot %d", slot)
		}
		seen[slot] = true
		e := &s.entries[slot]
		if e.prev != prev {
			return fmt.Errorf("slot %d: prev %d, want %d", slot, e.prev, prev)
		}
		prev = slot
		live += int64(e.size)
		if e.size%8 != 0 || int64(e.size) < blockSize(int(e.keyLen), int(e.valLen)) {
			return fmt.Errorf("slot %d: block size %d too small for key %d + value %d", slot, e.size, e.keyLen, e.valLen)
		}
		if int(e.off+e.size) > len(s.arena) {
			return fmt.Errorf("slot %d: block [%d,+%d) past arena %d", slot, e.off, e.size, len(s.arena))
		}
		if got := binary.LittleEndian.Uint32(s.arena[e.off:]); got != slot {
			return fmt.Errorf("slot %d: block header says slot %d", slot, got)
		}
		if got := binary.LittleEndian.Uint32(s.arena[e.off+4:]); got != e.size {
			return fmt.Errorf("slot %d: block header says size %d, entry %d", slot, got, e.size)
		}
		if s.find(e.hash, s.key(slot)) != slot {
			return fmt.Errorf("slot %d: index does not find key %q", slot, s.key(slot))
		}
		if e.kind != KindBytes && e.valLen != 0 {
			return fmt.Errorf("slot %d: kind %v with %d value bytes", slot, e.kind, e.valLen)
		}
	}
	if s.entries[0].prev != prev {
		return fmt.Errorf("sentinel prev %d, want tail %d", s.entries[0].prev, prev)
	}
	if len(seen) != s.count {
		return fmt.Errorf("LRU holds %d entries, count %d", len(seen), s.count)
	}
	if live != s.live {
		return fmt.Errorf("live blocks %d bytes, accounted %d", live, s.live)
	}
	indexed := 0
	for i, b := range s.index.buckets {
		if b == 0 {
			continue
		}
		slot := bucketSlot(b)
		if !seen[slot] || uint32(s.entries[slot].hash) != uint32(b) {
			return fmt.Errorf("index bucket %d -> slot %d is not a live entry with that hash", i, slot)
		}
		// Every bucket between its home and its position must be occupied,
		// or lookups would stop early.
		for j := bucketHome(b, s.index.mask); j != uint32(i); j = (j + 1) & s.index.mask {
			if s.index.buckets[j] == 0 {
				return fmt.Errorf("index bucket %d (home %d) unreachable: hole at %d", i, bucketHome(b, s.index.mask), j)
			}
		}
		indexed++
	}
	if indexed != s.count || s.index.n != s.count {
		return fmt.Errorf("index holds %d buckets (n %d), count %d", indexed, s.index.n, s.count)
	}
	if 2*s.index.n > len(s.index.buckets) {
		return fmt.Errorf("index over half full: %d of %d", s.index.n, len(s.index.buckets))
	}
	free := 0
	for slot := s.freeSlot; slot != 0; slot = s.entries[slot].next {
		if seen[slot] {
			return fmt.Errorf("slot %d both free and live", slot)
		}
		free++
		if free > len(s.entries) {
			return fmt.Errorf("free list cycle")
		}
	}
	if free+s.count+1 != len(s.entries) {
		return fmt.Errorf("%d free + %d live + sentinel != %d slots", free, s.count, len(s.entries))
	}
	// Walk the arena block by block: sizes must tile it exactly.
	for p := 0; p < len(s.arena); {
		size := int(binary.LittleEndian.Uint32(s.arena[p+4:]))
		if size < blockHeader || size%8 != 0 {
			return fmt.Errorf("arena block at %d has size %d", p, size)
		}
		p += size
		if p > len(s.arena) {
			return fmt.Errorf("arena blocks overrun the arena")
		}
	}
	if s.used() > s.capacity {
		return fmt.Errorf("used %d > capacity %d", s.used(), s.capacity)
	}
	if int64(len(s.arena))+int64(s.count)*entryOverhead > s.capacity {
		return fmt.Errorf("arena %d + overhead %d > capacity %d", len(s.arena), int64(s.count)*entryOverhead, s.capacity)
	}
	return nil
}

// peek reads key without touching the LRU order or the clock.
func peek(d *Dict, key []byte) (v Value, expires int64, ok bool) {
	s, h := d.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.find(h, key)
	if slot == 0 {
		return Value{}, 0, false
	}
	s.read(slot, nil, &v)
	return v, s.entries[slot].expires, true
}

// setRemoveHook installs a test hook on every shard. Call before any use.
func setRemoveHook(d *Dict, hook func(key []byte, why removeReason)) {
	for i := range d.shards {
		d.shards[i].onRemove = hook
	}
}

// lruOrder returns one shard's keys, most recently used first.
func lruOrder(d *Dict, shard int) []string {
	s := &d.shards[shard]
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for slot := s.entries[0].next; slot != 0; slot = s.entries[slot].next {
		keys = append(keys, string(s.key(slot)))
	}
	return keys
}
