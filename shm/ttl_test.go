package shm

import (
	"errors"
	"testing"
	"time"
)

func TestTTLAndExpire(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithClock(clock.Now))
	k := []byte("session")
	if _, err := d.TTL(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TTL of missing key: %v", err)
	}
	if err := d.Expire(k, time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Expire of missing key: %v", err)
	}
	_ = d.Set(k, StringValue("v"), 10*time.Second)
	clock.Advance(4 * time.Second)
	if ttl, err := d.TTL(k); ttl != 6*time.Second || err != nil {
		t.Fatalf("TTL = %v, %v; want 6s", ttl, err)
	}
	if err := d.Expire(k, 0); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if ttl, err := d.TTL(k); ttl != 0 || err != nil {
		t.Fatalf("TTL after Expire(0) = %v, %v; want 0 (never)", ttl, err)
	}
	_ = d.Expire(k, time.Second)
	clock.Advance(time.Second - 1)
	if _, ok := d.Get(k, nil); !ok {
		t.Fatal("expired one nanosecond early")
	}
	clock.Advance(1)
	if _, ok := d.Get(k, nil); ok {
		t.Fatal("Get returned an entry at its expiry time")
	}
	if _, err := d.TTL(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TTL of expired key: %v", err)
	}
	if err := d.Expire(k, time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Expire of expired key: %v", err)
	}
	if err := d.Expire(k, -1); !errors.Is(err, ErrBadTTL) {
		t.Fatalf("Expire(-1): %v", err)
	}
}

func TestHugeTTLSaturates(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithClock(clock.Now))
	_ = d.SetString("k", IntValue(1), time.Duration(maxExpiry))
	clock.Advance(1000 * time.Hour)
	if _, ok := d.GetString("k", nil); !ok {
		t.Fatal("a maximal TTL wrapped around and expired the entry")
	}
}

func TestGetStale(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithClock(clock.Now))
	k := []byte("cached")
	_ = d.Set(k, StringValue("body").WithFlags(4), time.Second)
	v, stale, ok := d.GetStale(k, nil)
	if !ok || stale || string(v.Bytes) != "body" || v.Flags != 4 {
		t.Fatalf("fresh GetStale = %v stale %v ok %v", v, stale, ok)
	}
	clock.Advance(time.Second)
	v, stale, ok = d.GetStale(k, nil)
	if !ok || !stale || string(v.Bytes) != "body" {
		t.Fatalf("expired GetStale = %v stale %v ok %v", v, stale, ok)
	}
	if _, _, ok := d.GetStale([]byte("nope"), nil); ok {
		t.Fatal("GetStale found a missing key")
	}
	if d.FlushExpired(0) != 1 {
		t.Fatal("FlushExpired did not remove the expired entry")
	}
	if _, _, ok := d.GetStale(k, nil); ok {
		t.Fatal("GetStale found a flushed entry")
	}
}

func TestFlushAllThenFlushExpired(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<20, WithClock(clock.Now), WithShards(4))
	for i := range 100 {
		_ = d.Set([]byte{byte(i), 'k'}, IntValue(int64(i)), 0)
	}
	d.FlushAll()
	if len(d.Keys(0)) != 0 {
		t.Fatal("Keys after FlushAll not empty")
	}
	if _, ok := d.Get([]byte{7, 'k'}, nil); ok {
		t.Fatal("Get after FlushAll found an entry")
	}
	if v, stale, ok := d.GetStale([]byte{7, 'k'}, nil); !ok || !stale || v.Int != 7 {
		t.Fatalf("GetStale after FlushAll = %v %v %v, want the stale value", v, stale, ok)
	}
	if d.Len() != 100 {
		t.Fatalf("FlushAll freed memory eagerly: Len %d", d.Len())
	}
	if n := d.FlushExpired(30); n != 30 {
		t.Fatalf("FlushExpired(30) = %d", n)
	}
	if n := d.FlushExpired(0); n != 70 {
		t.Fatalf("FlushExpired(0) = %d, want the remaining 70", n)
	}
	if d.Len() != 0 || d.FreeSpace() != d.Capacity() {
		t.Fatalf("after flushing: Len %d FreeSpace %d", d.Len(), d.FreeSpace())
	}
	if st := d.Stats(); st.Expired != 100 || st.Evictions != 0 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, d)
}

// TestWriteSweepsExpiredTail pins the bounded sweep: a write that needs new
// space first removes up to sweepOnWrite expired entries from the list tail.
func TestWriteSweepsExpiredTail(t *testing.T) {
	clock := newFakeClock()
	d := mustNew(t, 1<<16, WithClock(clock.Now), WithShards(1))
	for _, k := range []string{"old1", "old2", "old3"} {
		_ = d.SetString(k, IntValue(1), time.Second)
	}
	_ = d.SetString("live", IntValue(1), 0)
	clock.Advance(time.Second)
	_ = d.SetString("new", IntValue(1), 0)
	if got, want := lruOrder(d, 0), []string{"new", "live", "old3"}; !equalStrings(got, want) {
		t.Fatalf("list after sweeping write = %q, want %q", got, want)
	}
	// In-place writes need no space and sweep nothing.
	_ = d.SetString("live", IntValue(2), 0)
	if d.Len() != 3 {
		t.Fatalf("in-place write swept: Len %d", d.Len())
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
