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
