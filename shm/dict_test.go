package shm

import (
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSetGetKinds(t *testing.T) {
	d := mustNew(t, 1<<20)
	tests := []struct {
		name string
		v    Value
	}{
		{"bytes", StringValue("hello world").WithFlags(7)},
		{"empty bytes", BytesValue(nil)},
		{"int", IntValue(-42).WithFlags(1)},
		{"max int", IntValue(math.MaxInt64)},
		{"float", FloatValue(3.25)},
		{"NaN", FloatValue(math.NaN()).WithFlags(math.MaxUint32)},
		{"true", BoolValue(true)},
		{"false", BoolValue(false).WithFlags(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := []byte("key:" + tt.name)
			if err := d.Set(key, tt.v, 0); err != nil {
				t.Fatal(err)
			}
			got, ok := d.Get(key, nil)
			if !ok || !got.Equal(tt.v) {
				t.Fatalf("Get = %v, %v; want %v", got, ok, tt.v)
			}
		})
	}
	checkInvariants(t, d)
}

func TestGetAppendsToDst(t *testing.T) {
	d := mustNew(t, 1<<16)
	_ = d.SetString("k", StringValue("value"), 0)
	_ = d.SetString("n", IntValue(5), 0)
	buf := make([]byte, 0, 64)
	buf = append(buf, "pre|"...)
	v, ok := d.Get([]byte("k"), buf)
	if !ok || string(v.Bytes) != "pre|value" || &v.Bytes[0] != &buf[0] {
		t.Fatalf("Get appended %q (same array %v)", v.Bytes, ok && &v.Bytes[0] == &buf[0])
	}
	v, ok = d.Get([]byte("n"), buf)
	if !ok || string(v.Bytes) != "pre|" || v.Int != 5 {
		t.Fatalf("number Get: %v %q", v, v.Bytes)
	}
	v, ok = d.Get([]byte("missing"), buf)
	if ok || string(v.Bytes) != "pre|" {
		t.Fatalf("miss: %v %q", ok, v.Bytes)
	}
}

func TestWriteOpsSemantics(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithClock(clock.Now))
	k := []byte("k")
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"replace missing", func() error { return d.Replace(k, IntValue(1), 0) }, ErrNotFound},
		{"add missing", func() error { return d.Add(k, IntValue(1), time.Second) }, nil},
		{"add present", func() error { return d.Add(k, IntValue(2), 0) }, ErrExists},
		{"safe add present", func() error { return d.SafeAdd(k, IntValue(2), 0) }, ErrExists},
		{"replace present", func() error { return d.Replace(k, IntValue(3), time.Second) }, nil},
		{"expire it", func() error { clock.Advance(time.Second); return nil }, nil},
		{"replace expired", func() error { return d.Replace(k, IntValue(4), 0) }, ErrNotFound},
		{"add over expired", func() error { return d.Add(k, IntValue(5), 0) }, nil},
		{"empty key", func() error { return d.Set(nil, IntValue(1), 0) }, ErrEmptyKey},
		{"long key", func() error { return d.Set(make([]byte, MaxKeyLen+1), IntValue(1), 0) }, ErrKeyTooLarge},
		{"no kind", func() error { return d.Set(k, Value{}, 0) }, ErrBadKind},
		{"bad kind", func() error { return d.Set(k, Value{Kind: 99}, 0) }, ErrBadKind},
		{"negative ttl", func() error { return d.Set(k, IntValue(1), -1) }, ErrBadTTL},
		{"value too large", func() error { return d.Set(k, BytesValue(make([]byte, 1<<16)), 0) }, ErrValueTooLarge},
	}
	for _, st := range steps {
		if err := st.do(); !errors.Is(err, st.want) || (st.want == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
	}
	if v, ok := d.Get(k, nil); !ok || v.Int != 5 {
		t.Fatalf("final value %v %v, want 5", v, ok)
	}
	big := mustNew(t, 1<<20, WithShards(1))
	if err := big.Set(make([]byte, MaxKeyLen), IntValue(1), 0); err != nil {
		t.Fatalf("a MaxKeyLen key must be accepted: %v", err)
	}
	// The lock-free paths check key lengths with one unsigned compare.
	for _, key := range [][]byte{nil, make([]byte, MaxKeyLen+1)} {
		if _, ok := big.Get(key, nil); ok {
			t.Fatalf("Get of a %d-byte key found something", len(key))
		}
		if _, err := big.IncrExisting(key, 1); err == nil {
			t.Fatalf("IncrExisting of a %d-byte key: no error", len(key))
		}
	}
	if v, ok := big.Get(make([]byte, MaxKeyLen), nil); !ok || v.Int != 1 {
		t.Fatalf("Get of the MaxKeyLen key: %v %v, want 1", v, ok)
	}
}

func TestInPlaceSetKeepsBlock(t *testing.T) {
	d := mustNew(t, 1<<16, WithShards(1))
	k := []byte("k")
	_ = d.Set(k, StringValue(strings.Repeat("a", 40)), 0)
	used := d.Stats().Used
	if want := accountedSize(1, 40); used != want {
		t.Fatalf("used %d, want %d", used, want)
	}
	// Shorter values and numbers reuse the block: the charge stays.
	for _, v := range []Value{StringValue("short"), IntValue(1), StringValue(strings.Repeat("b", 40))} {
		if err := d.Set(k, v, 0); err != nil {
			t.Fatal(err)
		}
		if got := d.Stats().Used; got != used {
			t.Fatalf("after in-place Set(%v) used %d, want %d", v, got, used)
		}
	}
	// A longer value moves to a new block sized for it.
	_ = d.Set(k, StringValue(strings.Repeat("c", 100)), 0)
	if got, want := d.Stats().Used, accountedSize(1, 100); got != want {
		t.Fatalf("after growing Set used %d, want %d", got, want)
	}
	checkInvariants(t, d)
}

func TestDelete(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithClock(clock.Now))
	_ = d.SetString("a", IntValue(1), 0)
	_ = d.SetString("b", IntValue(1), time.Second)
	clock.Advance(2 * time.Second)
	if !d.DeleteString("a") {
		t.Fatal("Delete of a live key returned false")
	}
	if d.DeleteString("b") {
		t.Fatal("Delete of an expired key returned true")
	}
	if d.DeleteString("a") || d.DeleteString("never") {
		t.Fatal("Delete of an absent key returned true")
	}
	if d.Len() != 0 || d.FreeSpace() != d.Capacity() {
		t.Fatalf("after deletes: Len %d, FreeSpace %d of %d", d.Len(), d.FreeSpace(), d.Capacity())
	}
}

func TestIncr(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithClock(clock.Now))
	k := []byte("hits")
	if _, err := d.IncrExisting(k, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("IncrExisting on missing: %v", err)
	}
	if n, err := d.Incr(k, 5, 10, time.Minute); n != 15 || err != nil {
		t.Fatalf("Incr with init = %d, %v; want 15", n, err)
	}
	if n, err := d.IncrExisting(k, -20); n != -5 || err != nil {
		t.Fatalf("IncrExisting = %d, %v; want -5", n, err)
	}
	// The counter keeps its TTL; init and initTTL are ignored while it lives.
	clock.Advance(30 * time.Second)
	if n, _ := d.Incr(k, 1, 100, time.Hour); n != -4 {
		t.Fatalf("Incr on live counter = %d, want -4", n)
	}
	if ttl, _ := d.TTL(k); ttl != 30*time.Second {
		t.Fatalf("TTL after Incr = %v, want 30s", ttl)
	}
	clock.Advance(30 * time.Second)
	if n, _ := d.Incr(k, 1, 100, 0); n != 101 {
		t.Fatalf("Incr on expired counter = %d, want init+delta 101", n)
	}
	if ttl, _ := d.TTL(k); ttl != 0 {
		t.Fatalf("TTL of re-initialized counter = %v, want 0 (never)", ttl)
	}

	_ = d.Set(k, IntValue(math.MaxInt64-1).WithFlags(3), 0)
	if _, err := d.Incr(k, 2, 0, 0); !errors.Is(err, ErrOverflow) {
		t.Fatalf("overflow: %v", err)
	}
	if v, _ := d.Get(k, nil); v.Int != math.MaxInt64-1 || v.Flags != 3 {
		t.Fatalf("overflowing Incr changed the value to %v", v)
	}
	if _, err := d.Incr([]byte("fresh"), math.MaxInt64, 1, 0); !errors.Is(err, ErrOverflow) {
		t.Fatalf("overflowing init: %v", err)
	}
	if _, ok := d.Get([]byte("fresh"), nil); ok {
		t.Fatal("overflowing init stored a value")
	}

	_ = d.SetString("s", StringValue("x"), 0)
	_ = d.SetString("f", FloatValue(1.5), 0)
	_ = d.SetString("b", BoolValue(true), 0)
	for key, want := range map[string]error{"s": ErrNotANumber, "b": ErrNotANumber, "f": ErrNotAnInteger} {
		if _, err := d.Incr([]byte(key), 1, 0, 0); !errors.Is(err, want) {
			t.Errorf("Incr(%s): %v, want %v", key, err, want)
		}
	}
	if _, err := d.Incr(k, 1, 0, -1); !errors.Is(err, ErrBadTTL) {
		t.Errorf("negative initTTL: %v", err)
	}
}

func TestIncrFloat(t *testing.T) {
	d := mustNew(t, 1<<16)
	k := []byte("avg")
	if f, err := d.IncrFloat(k, 0.5, 1, 0); f != 1.5 || err != nil {
		t.Fatalf("IncrFloat init = %g, %v", f, err)
	}
	_ = d.Set(k, IntValue(2).WithFlags(9), 0)
	if f, err := d.IncrFloat(k, 0.25, 0, 0); f != 2.25 || err != nil {
		t.Fatalf("IncrFloat on int = %g, %v", f, err)
	}
	if v, _ := d.Get(k, nil); v.Kind != KindFloat || v.Float != 2.25 || v.Flags != 9 {
		t.Fatalf("after IncrFloat on int: %v (flags must stay)", v)
	}
	_ = d.Set(k, BoolValue(true), 0)
	if _, err := d.IncrFloat(k, 1, 0, 0); !errors.Is(err, ErrNotANumber) {
		t.Fatalf("IncrFloat on bool: %v", err)
	}
}

func TestKeysAndLen(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<20, WithClock(clock.Now))
	for _, k := range []string{"a", "b", "c", "d"} {
		_ = d.SetString(k, IntValue(1), 0)
	}
	_ = d.SetString("gone", IntValue(1), time.Millisecond)
	clock.Advance(time.Millisecond)
	if got := d.Keys(0); len(got) != 4 {
		t.Fatalf("Keys(0) = %q, want the 4 live keys", got)
	}
	if got := d.Keys(2); len(got) != 2 {
		t.Fatalf("Keys(2) = %q", got)
	}
	if d.Len() != 5 {
		t.Fatalf("Len = %d, want 5 (expired entries count until removed)", d.Len())
	}
}

func TestNewRejectsTinyCapacity(t *testing.T) {
	for _, capacity := range []int64{-1, 0, 50} {
		if _, err := New(capacity); !errors.Is(err, ErrBadSize) {
			t.Errorf("New(%d): %v, want ErrBadSize", capacity, err)
		}
	}
	if _, err := New(100<<10, WithShards(1024)); !errors.Is(err, ErrBadSize) {
		t.Errorf("100 bytes per shard must be refused: %v", err)
	}
}

func TestShardCount(t *testing.T) {
	tests := []struct {
		capacity int64
		opt      int
		want     int
	}{
		{1 << 10, 0, 1},
		{1 << 20, 0, 16},
		{10 << 20, 0, 64},
		{1 << 30, 0, 64},
		{1 << 20, 3, 4},
		{1 << 20, 5000, 1024},
	}
	for _, tt := range tests {
		d := mustNew(t, tt.capacity, WithShards(tt.opt))
		if len(d.shards) != tt.want {
			t.Errorf("New(%d, WithShards(%d)): %d shards, want %d", tt.capacity, tt.opt, len(d.shards), tt.want)
		}
		var sum int64
		for i := range d.shards {
			sum += d.shards[i].capacity
		}
		if sum != tt.capacity || d.FreeSpace() != tt.capacity {
			t.Errorf("shard capacities sum to %d, FreeSpace %d, want %d", sum, d.FreeSpace(), tt.capacity)
		}
	}
}

func TestValueString(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{StringValue("a\n"), `bytes("a\n")/0`},
		{IntValue(-3).WithFlags(2), "int(-3)/2"},
		{FloatValue(0.5), "float(0.5)/0"},
		{BoolValue(true), "bool(true)/0"},
		{Value{}, "none()/0"},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.v, got, tt.want)
		}
	}
	if Kind(77).String() != "kind(77)" {
		t.Error(Kind(77).String())
	}
}

// TestPanickingClockReleasesLock pins that a panic inside a critical
// section (here from a user clock) unlocks the shard: a gateway that
// recovers from a request's panic must not find the dict deadlocked.
func TestPanickingClockReleasesLock(t *testing.T) {
	var explode atomic.Bool
	clock := func() int64 {
		if explode.Load() {
			panic("clock broke")
		}
		return 1
	}
	d := mustNew(t, 1<<16, WithShards(1), WithClock(clock))
	k := []byte("k")
	_ = d.Set(k, IntValue(1), time.Second)
	explode.Store(true)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the clock's panic did not propagate")
			}
		}()
		_, _ = d.Get(k, nil)
	}()
	explode.Store(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = d.Incr(k, 1, 0, 0)
		d.FlushAll()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the shard stayed locked after a panic")
	}
}
