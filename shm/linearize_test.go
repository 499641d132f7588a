package shm

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The lock-free paths must stay linearizable: these tests run readers,
// writers and incrementers on a few keys at once (meant for -race) and check
// what each goroutine observed against what a linearizable dict allows.
// They assert no timing, only facts that hold under every interleaving.

// writtenValue is the byte value writer g stores as its i-th write: its
// length varies with i (so writes go in place, grow into new blocks and
// shrink), and every byte is derived from (g, i), so a torn or stale-block
// read does not parse.
func writtenValue(g, i int) []byte {
	head := strconv.Itoa(g) + ":" + strconv.Itoa(i) + ":"
	fill := byte('a' + (g*7+i)%26)
	return append([]byte(head), bytes.Repeat([]byte{fill}, (i*13)%90)...)
}

// parseWritten returns the (g, i) that wrote v, or ok false if no writer
// ever wrote v.
func parseWritten(v []byte) (g, i int, ok bool) {
	parts := bytes.SplitN(v, []byte(":"), 3)
	if len(parts) != 3 {
		return 0, 0, false
	}
	g, err1 := strconv.Atoi(string(parts[0]))
	i, err2 := strconv.Atoi(string(parts[1]))
	if err1 != nil || err2 != nil || g < 0 || i < 0 {
		return 0, 0, false
	}
	return g, i, bytes.Equal(v, writtenValue(g, i))
}

// TestLinearizableGetSet: writers Set byte values on shared keys (with
// flags that must travel with the value), readers Get them. A reader must
// only see values some writer stored, with their flags, and never go back
// in one writer's sequence: after seeing writer g's i-th value on a key, it
// may not later see g's j-th with j < i.
func TestLinearizableGetSet(t *testing.T) {
	const writers, readers, keys = 3, 3, 3
	perWriter := 3000
	if testing.Short() {
		perWriter = 500
	}
	// Small and one shard, so writes move blocks, compact the arena and grow
	// tables while readers copy out of them.
	d := mustNew(t, 24<<10, WithShards(1))
	key := func(k int) []byte { return []byte("lin-" + strconv.Itoa(k)) }
	var wg sync.WaitGroup
	var stop sync.WaitGroup
	done := make(chan struct{})
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				v := BytesValue(writtenValue(g, i)).WithFlags(uint32(g*100000 + i))
				if err := d.Set(key(i%keys), v, 0); err != nil {
					t.Errorf("Set: %v", err)
					return
				}
				// Churn other keys so blocks move and the arena compacts.
				_ = d.Set([]byte("churn-"+strconv.Itoa(g)+"-"+strconv.Itoa(i%40)), StringValue(string(writtenValue(g, i))), 0)
			}
		}()
	}
	for r := range readers {
		stop.Add(1)
		go func() {
			defer stop.Done()
			last := make([][]int, keys) // last[k][g]: highest i seen
			for k := range last {
				last[k] = slices.Repeat([]int{-1}, writers)
			}
			buf := make([]byte, 0, 16)
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				k := (n + r) % keys
				v, ok := d.Get(key(k), buf[:0])
				buf = v.Bytes[:0]
				if !ok {
					continue // evicted by the churn
				}
				g, i, parsed := parseWritten(v.Bytes)
				if !parsed || v.Kind != KindBytes {
					t.Errorf("key %d: read %v, which no writer stored", k, v)
					return
				}
				if v.Flags != uint32(g*100000+i) {
					t.Errorf("key %d: value of write %d:%d with flags %d", k, g, i, v.Flags)
					return
				}
				if i < last[k][g] {
					t.Errorf("key %d: read write %d:%d after %d:%d", k, g, i, g, last[k][g])
					return
				}
				last[k][g] = i
			}
		}()
	}
	wg.Wait()
	close(done)
	stop.Wait()
	checkInvariants(t, d)
}

// TestLinearizableIncr: incrementers add 1 to shared counters while readers
// Get them. Each Incr's result must be unique (the results on a counter are
// exactly 1..N, so no increment was lost or applied twice), a reader must
// never see a counter go down, and the final value is exact. The counters
// live in a shard where other counters are created and deleted all the time,
// so the cell slab is rebuilt (every live counter moved) under the Incrs.
func TestLinearizableIncr(t *testing.T) {
	const incrementers, readers, counters = 8, 2, 3
	perG := 4000
	if testing.Short() {
		perG = 800
	}
	d := mustNew(t, 1<<20, WithShards(1))
	ctr := func(c int) []byte { return []byte("ctr-" + strconv.Itoa(c)) }
	results := make([][][]int64, incrementers)
	var wg, stop sync.WaitGroup
	done := make(chan struct{})
	for g := range incrementers {
		results[g] = make([][]int64, counters)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				c := (i + g) % counters
				n, err := d.Incr(ctr(c), 1, 0, time.Hour)
				if err != nil {
					t.Errorf("Incr: %v", err)
					return
				}
				results[g][c] = append(results[g][c], n)
				// Counters that come and go: their cells are frozen and the
				// slab fills up and moves.
				side := []byte("side-" + strconv.Itoa(g) + "-" + strconv.Itoa(i%50))
				if i%3 == 0 {
					d.Delete(side)
				} else {
					_, _ = d.Incr(side, 1, 0, 0)
				}
			}
		}()
	}
	for r := range readers {
		stop.Add(1)
		go func() {
			defer stop.Done()
			last := make([]int64, counters)
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				c := (n + r) % counters
				v, ok := d.Get(ctr(c), nil)
				if !ok {
					continue // not created yet
				}
				if v.Kind != KindInt || v.Int < last[c] || v.Int > int64(incrementers*perG) {
					t.Errorf("counter %d: read %v after %d", c, v, last[c])
					return
				}
				last[c] = v.Int
			}
		}()
	}
	wg.Wait()
	close(done)
	stop.Wait()
	for c := range counters {
		var all []int64
		for g := range incrementers {
			all = append(all, results[g][c]...)
		}
		slices.Sort(all)
		for i, n := range all {
			if n != int64(i+1) {
				t.Fatalf("counter %d: Incr results are not 1..%d: position %d holds %d", c, len(all), i, n)
			}
		}
		if v, _ := d.Get(ctr(c), nil); v.Int != int64(len(all)) {
			t.Fatalf("counter %d = %d after %d increments", c, v.Int, len(all))
		}
	}
	checkInvariants(t, d)
}

// TestLinearizableKindChanges races Incr against Sets that change a key's
// kind, and Incrs that carry a counter in and out of its cell's range
// (values beyond ±2^61 live in the entry). Readers may only see values that
// were stored or reached by increments from them, and a failed Incr must say
// why.
func TestLinearizableKindChanges(t *testing.T) {
	const goroutines = 4
	perG := 2000
	if testing.Short() {
		perG = 400
	}
	d := mustNew(t, 1<<16, WithShards(1))
	flip := []byte("flip")
	big := []byte("big")
	_ = d.Set(big, IntValue(fastMax-int64(goroutines*perG/8)), 0)
	var wg sync.WaitGroup
	var bigIncrs [goroutines]int
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				switch i % 4 {
				case 0:
					var v Value
					switch (i / 4) % 3 {
					case 0:
						v = IntValue(int64(100000 * (g + 1)))
					case 1:
						v = BytesValue(writtenValue(g, i))
					default:
						v = FloatValue(float64(g))
					}
					_ = d.Set(flip, v, 0)
				case 1:
					_, err := d.Incr(flip, 1, 0, 0)
					if err != nil && !errors.Is(err, ErrNotANumber) && !errors.Is(err, ErrNotAnInteger) {
						t.Errorf("Incr on flip: %v", err)
						return
					}
				case 2:
					v, ok := d.Get(flip, nil)
					if !ok {
						t.Error("flip vanished")
						return
					}
					if err := checkFlip(v, goroutines, perG); err != nil {
						t.Error(err)
						return
					}
				case 3:
					if _, err := d.Incr(big, 1, 0, 0); err != nil {
						t.Errorf("Incr on big: %v", err)
						return
					}
					bigIncrs[g]++
					if v, _ := d.Get(big, nil); v.Kind != KindInt || v.Int < fastMax-int64(goroutines*perG/8) {
						t.Errorf("big read %v", v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range bigIncrs {
		total += n
	}
	want := fastMax - int64(goroutines*perG/8) + int64(total)
	if v, _ := d.Get(big, nil); v.Int != want || want <= fastMax {
		t.Fatalf("big = %d, want %d (past the cell range %d)", v.Int, want, fastMax)
	}
	checkInvariants(t, d)
}

// checkFlip accepts what the flip key may hold: an int Set by a goroutine
// plus at most every Incr, a byte value a writer stored, or a float Set by
// a goroutine (IncrFloat never runs on it).
func checkFlip(v Value, goroutines, perG int) error {
	switch v.Kind {
	case KindInt:
		base := v.Int / 100000 * 100000
		if base < 100000 || base > int64(100000*goroutines) || v.Int-base > int64(goroutines*perG/4) {
			return fmt.Errorf("flip read int %d, never stored or reached", v.Int)
		}
	case KindBytes:
		if _, _, ok := parseWritten(v.Bytes); !ok {
			return fmt.Errorf("flip read bytes %q, never stored", v.Bytes)
		}
	case KindFloat:
		if v.Float != float64(int(v.Float)) || v.Float < 0 || v.Float >= float64(goroutines) {
			return fmt.Errorf("flip read float %g, never stored", v.Float)
		}
	default:
		return fmt.Errorf("flip read kind %v", v.Kind)
	}
	return nil
}
