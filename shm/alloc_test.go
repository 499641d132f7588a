//go:build !race

package shm

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// The allocation promises of the hot path, as tests: Get into a buffer that
// is large enough, Incr on an existing counter and in-place Set allocate
// nothing, with []byte and string keys.
func TestNoAllocs(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<20, WithClock(clock.Now))
	key := []byte("limit:consumer:1234:route:42")
	ctr := []byte("limit:consumer:1234:route:42:n")
	_ = d.Set(key, StringValue("a value of some length"), time.Minute)
	_, _ = d.Incr(ctr, 1, 0, time.Minute)
	buf := make([]byte, 0, 64)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Get bytes", func() { v, _ := d.Get(key, buf[:0]); buf = v.Bytes }},
		{"Get number", func() { _, _ = d.Get(ctr, buf[:0]) }},
		{"GetString", func() { v, _ := d.GetString("limit:consumer:1234:route:42", buf[:0]); buf = v.Bytes }},
		{"GetStale", func() { _, _, _ = d.GetStale(key, buf[:0]) }},
		{"Get miss", func() { _, _ = d.Get([]byte("missing"), buf[:0]) }},
		{"Incr", func() { _, _ = d.Incr(ctr, 1, 0, time.Minute) }},
		{"IncrString", func() { _, _ = d.IncrString("limit:consumer:1234:route:42:n", 1, 0, time.Minute) }},
		{"IncrFloat", func() { _, _ = d.IncrFloat([]byte("f"), 0.5, 0, 0) }},
		{"Set in place", func() { _ = d.Set(key, StringValue("a shorter value"), time.Minute) }},
		{"SetString in place", func() { _ = d.SetString("limit:consumer:1234:route:42", IntValue(3), 0) }},
		{"TTL", func() { _, _ = d.TTL(ctr) }},
		{"Expire", func() { _ = d.Expire(ctr, time.Minute) }},
		{"Delete+Set", func() { d.Delete(key); _ = d.Set(key, StringValue("x"), 0) }},
	}
	_, _ = d.IncrFloat([]byte("f"), 0.5, 0, 0)
	for _, tt := range tests {
		tt.fn() // warm up: first inserts may grow tables
		if n := testing.AllocsPerRun(200, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", tt.name, n)
		}
	}
}

// TestNoAllocsSteadyChurn checks that a full dict under churn (new keys
// evicting old ones, compaction included) stops allocating once its tables
// have grown.
func TestNoAllocsSteadyChurn(t *testing.T) {
	d := mustNew(t, 64<<10, WithShards(1))
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = []byte{'k', byte(i >> 8), byte(i)}
	}
	val := StringValue("0123456789012345678901234567890123456789")
	i := 0
	set := func() {
		_ = d.Set(keys[i%len(keys)], val, 0)
		i++
	}
	for range 3 * len(keys) {
		set()
	}
	if n := testing.AllocsPerRun(2000, set); n != 0 {
		t.Errorf("Set with eviction: %v allocs per run, want 0", n)
	}
}

// TestEntriesAreNotHeapObjects pins the GC-friendly layout: storing many
// keys allocates per table growth (a logarithmic number of times per
// shard), never per entry, so the garbage collector has O(shards) objects
// to look at whatever the number of keys.
func TestEntriesAreNotHeapObjects(t *testing.T) {
	const keys = 200_000
	d := mustNew(t, 256<<20, WithShards(16))
	key := make([]byte, 0, 32)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range keys {
		key = strconv.AppendInt(append(key[:0], "consumer:"...), int64(i), 10)
		if err := d.Set(key, StringValue("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if d.Len() != keys {
		t.Fatalf("Len %d, want %d", d.Len(), keys)
	}
	// Per shard: entries, index and arena each double ~14 times.
	n := after.Mallocs - before.Mallocs
	if n > 16*3*20 {
		t.Fatalf("%d heap allocations for %d entries: entries must not be heap objects", n, keys)
	}
	t.Logf("%d heap allocations for %d entries", n, keys)
}

// TestResidentMemoryNearCapacity pins the "honest capacity" promise from
// the heap's side: a full 10 MiB dict, whatever its entry sizes, holds at
// most 1.3x its capacity on the Go heap (measured 1.06x-1.15x), the rest
// being the entry table's and the index's growth slack.
func TestResidentMemoryNearCapacity(t *testing.T) {
	const capacity = 10 << 20
	for _, valLen := range []int{0, 64, 1000} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d := mustNew(t, capacity)
		key := make([]byte, 0, 40)
		v := IntValue(1)
		if valLen > 0 {
			v = BytesValue(make([]byte, valLen))
		}
		for i := range 300_000 {
			key = strconv.AppendInt(append(key[:0], "limit:consumer:"...), int64(i), 10)
			if err := d.Set(key, v, 0); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if free := d.FreeSpace(); free > capacity/8 {
			t.Fatalf("value %d bytes: dict not full, %d bytes free", valLen, free)
		}
		heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		t.Logf("value %d bytes: %d entries, heap %.2fx capacity", valLen, d.Len(), heap/capacity)
		if heap > 1.3*capacity {
			t.Errorf("value %d bytes: a full %d-byte dict holds %.0f heap bytes (%.2fx)", valLen, capacity, heap, heap/capacity)
		}
		runtime.KeepAlive(d)
	}
}
