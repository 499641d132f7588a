package shm

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAddToCounterMarkers checks the lock-free add against each kind of
// cell word: a fast value takes the add, a frozen cell sends the Incr back
// to its lookup and is left exactly frozen, a big cell sends it to the lock
// and stays in the big region, and values past the add range, or deltas
// past maxAddDelta, go through the compare-and-swap.
func TestAddToCounterMarkers(t *testing.T) {
	tests := []struct {
		name      string
		cell      uint64
		delta     int64
		n         int64
		done      bool
		again     bool
		err       error
		cellAfter uint64
	}{
		{"fast", 41, 1, 42, true, false, nil, 42},
		{"fast negative", 0, -5, -5, true, false, nil, uint64(^uint64(4))},
		{"fast to past the range", uint64(fastMax), 1, fastMax + 1, true, false, nil, uint64(fastMax + 1)},
		{"large delta", 10, maxAddDelta + 1, 10 + maxAddDelta + 1, true, false, nil, uint64(10 + maxAddDelta + 1)},
		{"past the range, back in", uint64(fastMax + 3), -3, fastMax, true, false, nil, uint64(fastMax)},
		{"past the range, further out", uint64(fastMax + 3), 1, 0, false, false, nil, uint64(fastMax + 3)},
		{"frozen", cellFrozen, 1, 0, false, true, nil, cellFrozen},
		{"frozen, large delta", cellFrozen, maxAddDelta + 1, 0, false, true, nil, cellFrozen},
		{"big", cellBig, 1, 0, false, false, nil, cellBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c atomic.Uint64
			c.Store(tt.cell)
			n, done, err, again := addToCounter(&c, tt.delta)
			if n != tt.n || done != tt.done || err != tt.err || again != tt.again {
				t.Fatalf("addToCounter = %d, done %v, %v, again %v; want %d, %v, %v, %v",
					n, done, err, again, tt.n, tt.done, tt.err, tt.again)
			}
			if c.Load() != tt.cellAfter {
				t.Fatalf("cell %#x after, want %#x", c.Load(), tt.cellAfter)
			}
		})
	}
}

// TestAddLandedOnMarker is the race TestAddToCounterMarkers cannot stage:
// an Incr loaded a fast value, and before its add the lock holder froze the
// cell or moved the value to the entry (cellBig), so the add lands on the
// marker. It must not count, a frozen cell must end up exactly frozen again,
// and a big cell must stay in its region (the lock holder's next store
// replaces it).
func TestAddLandedOnMarker(t *testing.T) {
	for _, marker := range []uint64{cellFrozen, cellBig} {
		for _, delta := range []int64{1, -1, maxAddDelta, -maxAddDelta} {
			var c atomic.Uint64
			c.Store(marker)
			n, done, again := addLoaded(&c, delta)
			if done || n != 0 || again != (marker == cellFrozen) {
				t.Fatalf("marker %#x, delta %d: %d, done %v, again %v", marker, delta, n, done, again)
			}
			switch w := c.Load(); {
			case marker == cellFrozen && w != cellFrozen:
				t.Fatalf("frozen cell left at %#x", w)
			case marker == cellBig && !cellBigWord(w):
				t.Fatalf("big cell left at %#x, outside its region", w)
			}
		}
	}
	// The regions hold any number of such adds a machine can have in
	// flight: 2^29 goroutines each with the largest delta, in both
	// directions, around either marker.
	for _, marker := range []uint64{cellFrozen, cellBig} {
		for _, sign := range []int64{1, -1} {
			w := marker + uint64(sign*maxAddDelta)<<29
			if cellFrozenWord(w) != cellFrozenWord(marker) || cellBigWord(w) != cellBigWord(marker) || cellValue(w) {
				t.Fatalf("marker %#x drifted by %d*2^29*2^31 leaves its region: %#x", marker, sign, w)
			}
		}
	}
	// And fast values with that drift stay values.
	for _, v := range []int64{fastMin, fastMax} {
		for _, sign := range []int64{1, -1} {
			if w := uint64(v) + uint64(sign*maxAddDelta)<<29; !cellValue(w) {
				t.Fatalf("value %d drifted by %d*2^29*2^31 is no longer a value: %#x", v, sign, w)
			}
		}
	}
}

// TestAddLandingOnMarkers races lock-free adds with the lock holder's
// transitions: a counter that keeps crossing the cell range (in and out of
// entry.num) and one that is deleted and re-created (its cells frozen).
// Every Incr that reports success must be counted exactly once: the final
// value is the start plus the sum of their deltas. (The window between an
// Incr's load and its add is a few instructions, so this rarely stages a
// landing; TestAddLandedOnMarker does it deterministically.)
func TestAddLandingOnMarkers(t *testing.T) {
	const goroutines = 4
	perG := iterations(3000, 600)
	d := mustNew(t, 1<<16, WithShards(1))
	edge := []byte("edge")
	start := fastMax - 2
	_ = d.Set(edge, IntValue(start), 0)
	var sum atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				delta := int64(1)
				if (i+g)%2 == 1 {
					delta = -1
				}
				n, err := d.IncrExisting(edge, delta)
				if err != nil {
					t.Errorf("IncrExisting: %v", err)
					return
				}
				if n < start-int64(goroutines*perG) || n > start+int64(goroutines*perG) {
					t.Errorf("IncrExisting returned %d, out of reach from %d", n, start)
					return
				}
				sum.Add(delta)
			}
		}()
	}
	// A counter created and deleted over and over beside it, incremented
	// meanwhile: its cells are frozen under the adds.
	flicker := []byte("flicker")
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range perG {
			d.Delete(flicker)
			_, _ = d.Incr(flicker, 1, 0, time.Hour)
		}
	}()
	go func() {
		defer wg.Done()
		for range perG {
			if _, err := d.Incr(flicker, 1, 0, time.Hour); err != nil {
				t.Errorf("Incr flicker: %v", err)
				return
			}
		}
	}()
	wg.Wait()
	if v, _ := d.Get(edge, nil); v.Int != start+sum.Load() {
		t.Fatalf("edge = %d, want %d + %d", v.Int, start, sum.Load())
	}
	checkInvariants(t, d)
}

// TestSetUnchangedSkipsSeqlock pins what an in-place Set that changes
// nothing a reader sees does: it leaves the entry's sequence number alone
// (lock-free readers are not sent back to retry), and still counts as a
// write for eviction (list head, CLOCK bit clear). A Set that changes the
// value, the flags or the expiry goes through the seqlock.
func TestSetUnchangedSkipsSeqlock(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithShards(1), WithClock(clock.Now))
	key := []byte("health:upstream-1")
	seq := func() uint64 {
		s, h := d.shardFor(key)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.entry(s.find(h, key)).seq.Load()
	}
	_ = d.Set(key, StringValue("up"), time.Minute)
	_ = d.Set([]byte("other"), StringValue("x"), 0)
	d.Get(key, nil)
	before := seq()
	_ = d.Set(key, StringValue("up"), time.Minute)
	if got := seq(); got != before {
		t.Fatalf("seq %d -> %d for a Set that changed nothing", before, got)
	}
	if clockBit(d, key) || lruOrder(d, 0)[0] != string(key) {
		t.Fatalf("unchanged Set did not count as a write: bit %v, order %v", clockBit(d, key), lruOrder(d, 0))
	}
	for _, change := range []func(){
		func() { _ = d.Set(key, StringValue("dn"), time.Minute) },
		func() { _ = d.Set(key, StringValue("dn").WithFlags(1), time.Minute) },
		func() { clock.Advance(time.Second); _ = d.Set(key, StringValue("dn").WithFlags(1), time.Minute) },
	} {
		before := seq()
		change()
		if got := seq(); got != before+2 {
			t.Fatalf("seq %d -> %d for a Set that changed the entry", before, got)
		}
	}
	_ = d.Set(key, IntValue(5), 0)
	before = seq()
	_ = d.Set(key, IntValue(7), 0)
	if v, _ := d.Get(key, nil); v.Int != 7 || seq() != before {
		t.Fatalf("counter Set: %v, seq %d -> %d; want 7 through the cell alone", v, before, seq())
	}
}
