package shm

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestIncrExactUnderConcurrency is the rate-limit promise: N goroutines
// doing M increments of one hot key, and of keys spread over shards, lose
// nothing.
func TestIncrExactUnderConcurrency(t *testing.T) {
	const goroutines, perG = 16, 2048
	d := mustNew(t, 1<<20)
	hot := []byte("limit:hot")
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := make([]byte, 0, 32)
			for i := range perG {
				if _, err := d.Incr(hot, 1, 0, time.Hour); err != nil {
					t.Error(err)
					return
				}
				key = strconv.AppendInt(append(key[:0], "spread:"...), int64(i%64), 10)
				if _, err := d.Incr(key, int64(g+1), 0, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if v, _ := d.Get(hot, nil); v.Int != goroutines*perG {
		t.Fatalf("hot counter = %d, want %d", v.Int, goroutines*perG)
	}
	// Each spread key got perG/64 increments from every goroutine g of g+1.
	want := int64(perG/64) * goroutines * (goroutines + 1) / 2
	for i := range 64 {
		if v, _ := d.Get([]byte("spread:"+strconv.Itoa(i)), nil); v.Int != want {
			t.Fatalf("spread:%d = %d, want %d", i, v.Int, want)
		}
	}
	checkInvariants(t, d)
}

// TestConcurrentMixedOps hammers a small dict (so eviction and compaction
// run) with every operation from many goroutines; run with -race. Each
// goroutine owns some keys and checks that what it reads back is a value it
// could have written; shared keys only check types and structure.
func TestConcurrentMixedOps(t *testing.T) {
	const goroutines = 12
	clock := newFakeClock()
	d := mustNew(t, 48<<10, WithShards(4), WithClock(clock.Now))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 512)
			own := []byte(fmt.Sprintf("own-%d", g))
			for i := range 3000 {
				shared := []byte("shared-" + strconv.Itoa(i%50))
				switch i % 10 {
				case 0, 1:
					val := fmt.Sprintf("%d:%d:%0*d", g, i, i%300, 0)
					if err := d.Set(own, StringValue(val), 0); err != nil {
						t.Error(err)
						return
					}
					v, ok := d.Get(own, buf[:0])
					// Other goroutines' Sets may evict it, but never change it.
					if ok && string(v.Bytes) != val {
						t.Errorf("own key read %q after writing %q", v.Bytes, val)
						return
					}
					buf = v.Bytes[:0]
				case 2:
					_ = d.Set(shared, StringValue(fmt.Sprintf("%0*d", i%200, g)), time.Duration(i%5)*time.Millisecond)
				case 3:
					v, ok := d.Get(shared, buf[:0])
					if ok && v.Kind != KindBytes && v.Kind != KindInt {
						t.Errorf("shared key has kind %v", v.Kind)
					}
					buf = v.Bytes[:0]
				case 4:
					_, _ = d.Incr([]byte("ctr-"+strconv.Itoa(i%7)), 1, 0, 0)
				case 5:
					_ = d.SafeAdd(shared, IntValue(int64(i)), 0)
				case 6:
					d.Delete(shared)
				case 7:
					_, _, _ = d.GetStale(shared, buf[:0])
					_, _ = d.TTL(shared)
				case 8:
					if g == 0 && i%300 == 8 {
						clock.Advance(time.Millisecond)
						d.FlushExpired(10)
						_ = d.Keys(20)
						_ = d.FreeSpace()
					}
				case 9:
					_ = d.Expire(shared, time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, d)
	if used := d.Stats().Used; used > d.Capacity() {
		t.Fatalf("used %d over capacity %d", used, d.Capacity())
	}
}

// TestReadsAcrossEntryTableGrowth pins the entry table's move (shard.go,
// minEntrySlots): lock-free Gets and Incrs of existing keys run while a
// writer creates keys in the same shard, so the table is copied and its
// old copy frozen again and again under the readers, and rewrites the
// readers' keys meanwhile. Every value a reader sees is its key's own and
// no older than the last one it saw; every Incr result is larger than the
// reader's previous one on that counter, and no increment is lost.
func TestReadsAcrossEntryTableGrowth(t *testing.T) {
	const keys, readers = 8, 2
	grow := iterations(20000, 4000)
	d := mustNew(t, 64<<20, WithShards(1))
	fixed := func(k int) []byte { return []byte("fixed:" + strconv.Itoa(k)) }
	counter := func(k int) []byte { return []byte("count:" + strconv.Itoa(k)) }
	for k := range keys {
		if err := d.Set(fixed(k), BytesValue(append(fixed(k), ":0"...)), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Incr(counter(k), 1, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	incrs := make([]int, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen [keys]int
			var last [keys]int64
			buf := make([]byte, 0, 64)
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := i % keys
				v, ok := d.Get(fixed(k), buf[:0])
				prefix := string(fixed(k)) + ":"
				if !ok || len(v.Bytes) <= len(prefix) || string(v.Bytes[:len(prefix)]) != prefix {
					t.Errorf("reader %d: Get(%s) = %q, %v", r, fixed(k), v.Bytes, ok)
					return
				}
				version, err := strconv.Atoi(string(v.Bytes[len(prefix):]))
				if err != nil || version < seen[k] {
					t.Errorf("reader %d: Get(%s) = %q after version %d", r, fixed(k), v.Bytes, seen[k])
					return
				}
				seen[k] = version
				n, err := d.Incr(counter(k), 1, 0, 0)
				if err != nil || n <= last[k] {
					t.Errorf("reader %d: Incr(%s) = %d, %v after %d", r, counter(k), n, err, last[k])
					return
				}
				last[k] = n
				incrs[r]++
			}
		}()
	}
	key := make([]byte, 0, 32)
	for i := range grow {
		key = strconv.AppendInt(append(key[:0], "grow:"...), int64(i), 10)
		if err := d.Set(key, IntValue(int64(i)), 0); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			k := i % keys
			if err := d.Set(fixed(k), BytesValue([]byte(string(fixed(k))+":"+strconv.Itoa(i+1))), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	total := int64(0)
	for k := range keys {
		v, _ := d.Get(counter(k), nil)
		total += v.Int - 1
	}
	want := int64(0)
	for _, n := range incrs {
		want += int64(n)
	}
	if total != want {
		t.Fatalf("counters hold %d increments, readers made %d", total, want)
	}
	if s := &d.shards[0]; s.entryCap < uint32(grow) {
		t.Fatalf("entry table of %d slots after %d keys: it did not grow", s.entryCap, grow)
	}
	checkInvariants(t, d)
}

// TestEntryTableMoveInvalidatesReaders is the table move step by step: a
// reader that found its key in the table before the move must fail its
// validation after it (the old copy is frozen), and the next lookup finds
// the key in the new table with the same value.
func TestEntryTableMoveInvalidatesReaders(t *testing.T) {
	d := mustNew(t, 1<<20, WithShards(1))
	key := []byte("moved")
	if err := d.Set(key, BytesValue([]byte("before")), 0); err != nil {
		t.Fatal(err)
	}
	s, hash := d.shardFor(key)
	h, p := s.lookup(hash, key)
	if p != probeHit || !h.valid() {
		t.Fatalf("lookup before the move: probe %d, valid %v", p, h.valid())
	}
	s.mu.Lock()
	oldCap := s.entryCap
	s.growEntries()
	s.mu.Unlock()
	if s.entryCap <= oldCap {
		t.Fatalf("table did not grow: %d slots, %d before", s.entryCap, oldCap)
	}
	if h.valid() {
		t.Fatal("a hit on the old table still validates after the move")
	}
	if h2, p := s.lookup(hash, key); p != probeHit || !h2.valid() || h2.e == h.e {
		t.Fatalf("lookup after the move: probe %d, valid %v, same entry %v", p, h2.valid(), h2.e == h.e)
	}
	if v, ok := d.Get(key, nil); !ok || string(v.Bytes) != "before" {
		t.Fatalf("Get after the move = %q, %v", v.Bytes, ok)
	}
	checkInvariants(t, d)
}
