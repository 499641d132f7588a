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

// iterations returns full, or short under -short.
func iterations(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

func mustNew(tb testing.TB, capacity int64, opts ...Option) *Dict {
	tb.Helper()
	d, err := New(capacity, opts...)
	if err != nil {
		tb.Fatalf("New(%d): %v", capacity, err)
	}
	return d
}

// checkInvariants verifies every shard's internal structure: the list,
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
	arena := s.arenaView().bytes()
	intCells := 0
	for slot := s.sentinel().next; slot != 0; slot = s.entry(slot).next {
		if seen[slot] {
			return fmt.Errorf("list cycle at slot %d", slot)
		}
		seen[slot] = true
		e := s.entry(slot)
		if e.seq.Load()%2 != 0 {
			return fmt.Errorf("slot %d: odd seq %d with no writer", slot, e.seq.Load())
		}
		if e.prev != prev {
			return fmt.Errorf("slot %d: prev %d, want %d", slot, e.prev, prev)
		}
		prev = slot
		off, size := unpackLoc(e.loc.Load())
		keyLen, kind, valLen := unpackLens(e.lens.Load())
		live += int64(size)
		if size%8 != 0 || int64(size) < blockSize(int(keyLen), int(valLen)) {
			return fmt.Errorf("slot %d: block size %d too small for key %d + value %d", slot, size, keyLen, valLen)
		}
		if int64(off+size) > s.arenaLen {
			return fmt.Errorf("slot %d: block [%d,+%d) past arena %d", slot, off, size, s.arenaLen)
		}
		if got := binary.LittleEndian.Uint32(arena[off:]); got != slot {
			return fmt.Errorf("slot %d: block header says slot %d", slot, got)
		}
		if got := binary.LittleEndian.Uint32(arena[off+4:]); got != size {
			return fmt.Errorf("slot %d: block header says size %d, entry %d", slot, got, size)
		}
		if s.find(hashKey(s.key(slot)), s.key(slot)) != slot {
			return fmt.Errorf("slot %d: index does not find key %q", slot, s.key(slot))
		}
		if kind != KindBytes && valLen != 0 {
			return fmt.Errorf("slot %d: kind %v with %d value bytes", slot, kind, valLen)
		}
		if kind == KindInt {
			intCells++
			c := s.cells.Load().cellAt(e.cell.Load())
			if c == nil {
				return fmt.Errorf("slot %d: cell %d outside the slab", slot, e.cell.Load())
			}
			switch w := c.Load(); {
			case w == cellFrozen:
				return fmt.Errorf("slot %d: live counter with a frozen cell", slot)
			case w == cellBig && isFast(int64(e.num.Load())):
				return fmt.Errorf("slot %d: cellBig but the value %d fits a cell", slot, int64(e.num.Load()))
			}
		}
	}
	if s.sentinel().prev != prev {
		return fmt.Errorf("sentinel prev %d, want tail %d", s.sentinel().prev, prev)
	}
	if len(seen) != s.count {
		return fmt.Errorf("list holds %d entries, count %d", len(seen), s.count)
	}
	if intCells != s.liveCells {
		return fmt.Errorf("%d counters, %d live cells", intCells, s.liveCells)
	}
	if c := s.cells.Load(); c != nil {
		live := 0
		for i := range c.cells {
			if c.cells[i].Load() != cellFrozen {
				live++
			}
		}
		if live != intCells {
			return fmt.Errorf("%d unfrozen cells, %d counters", live, intCells)
		}
	}
	if live != s.live {
		return fmt.Errorf("live blocks %d bytes, accounted %d", live, s.live)
	}
	indexed := 0
	t := s.index.table()
	for i := range t.buckets {
		b := t.buckets[i].Load()
		if b == 0 {
			continue
		}
		slot := bucketSlot(b)
		if !seen[slot] {
			return fmt.Errorf("index bucket %d -> slot %d is not a live entry", i, slot)
		}
		e := s.entry(slot)
		if hash := hashKey(s.key(slot)); b&bucketTagMask != bucketTag(hash) || e.hashFlags.Load()>>32 != uint64(uint32(hash)) {
			return fmt.Errorf("index bucket %d -> slot %d: tag or entry hash is not the key's", i, slot)
		}
		// Lock-free readers retry while the bucket's block offset and the
		// entry's differ, so between writes they must be equal.
		if off, _ := unpackLoc(e.loc.Load()); bucketOff(b) != off {
			return fmt.Errorf("index bucket %d -> slot %d: block offset %d, entry's %d", i, slot, bucketOff(b), off)
		}
		// Every bucket between its home and its position must be occupied,
		// or lookups would stop early.
		home := s.index.home(b, t.mask)
		for j := home; j != uint32(i); j = (j + 1) & t.mask {
			if t.buckets[j].Load() == 0 {
				return fmt.Errorf("index bucket %d (home %d) unreachable: hole at %d", i, home, j)
			}
		}
		indexed++
	}
	if indexed != s.count || s.index.n != s.count {
		return fmt.Errorf("index holds %d buckets (n %d), count %d", indexed, s.index.n, s.count)
	}
	if 2*s.index.n > len(t.buckets) {
		return fmt.Errorf("index over half full: %d of %d", s.index.n, len(t.buckets))
	}
	if s.index.seq.Load()%2 != 0 {
		return fmt.Errorf("index seq odd with no writer")
	}
	free := 0
	for slot := s.freeSlot; slot != 0; slot = s.entry(slot).next {
		if seen[slot] {
			return fmt.Errorf("slot %d both free and live", slot)
		}
		free++
		if free > int(s.slots) {
			return fmt.Errorf("free list cycle")
		}
	}
	if free+s.count+1 != int(s.slots) {
		return fmt.Errorf("%d free + %d live + sentinel != %d slots", free, s.count, s.slots)
	}
	// Walk the arena block by block: sizes must tile it exactly.
	for p := int64(0); p < s.arenaLen; {
		size := int64(binary.LittleEndian.Uint32(arena[p+4:]))
		if size < blockHeader || size%8 != 0 {
			return fmt.Errorf("arena block at %d has size %d", p, size)
		}
		p += size
		if p > s.arenaLen {
			return fmt.Errorf("arena blocks overrun the arena")
		}
	}
	if s.used() > s.capacity {
		return fmt.Errorf("used %d > capacity %d", s.used(), s.capacity)
	}
	if s.arenaLen+int64(s.count)*entryOverhead > s.capacity {
		return fmt.Errorf("arena %d + overhead %d > capacity %d", s.arenaLen, int64(s.count)*entryOverhead, s.capacity)
	}
	return nil
}

// peek reads key without touching the CLOCK bits or the clock.
func peek(d *Dict, key []byte) (v Value, expires int64, ok bool) {
	s, h := d.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.find(h, key)
	if slot == 0 {
		return Value{}, 0, false
	}
	s.readValue(s.entry(slot), nil, &v)
	return v, s.entry(slot).expires.Load(), true
}

// clockBit returns key's CLOCK bit (false if key is absent).
func clockBit(d *Dict, key []byte) bool {
	s, h := d.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.find(h, key)
	return slot != 0 && s.entry(slot).lens.Load()&refBit != 0
}

// setRemoveHook installs a test hook on every shard. Call before any use.
func setRemoveHook(d *Dict, hook func(key []byte, why removeReason)) {
	for i := range d.shards {
		d.shards[i].onRemove = hook
	}
}

// lruOrder returns one shard's keys in list order: most recently written
// (or given a second chance by the eviction hand) first.
func lruOrder(d *Dict, shard int) []string {
	s := &d.shards[shard]
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for slot := s.sentinel().next; slot != 0; slot = s.entry(slot).next {
		keys = append(keys, string(s.key(slot)))
	}
	return keys
}
