package shm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fillShard stores n fixed-size byte entries k0..k(n-1) in a one-shard dict
// that holds exactly n of them.
func fullDict(t *testing.T, n int) *Dict {
	t.Helper()
	d := mustNew(t, int64(n)*accountedSize(2, 40), WithShards(1))
	for i := range n {
		if err := d.SafeSet([]byte(fmt.Sprintf("k%d", i)), StringValue(strings.Repeat("v", 40)), 0); err != nil {
			t.Fatalf("filling entry %d of %d: %v", i, n, err)
		}
	}
	if d.FreeSpace() != 0 {
		t.Fatalf("full dict has %d bytes free", d.FreeSpace())
	}
	return d
}

// TestEvictionOrderIsClock pins the CLOCK order: writes put an entry at the
// head of the list, reads only set its bit, and the eviction hand gives an
// entry whose bit is set a second chance (to the head, bit cleared).
func TestEvictionOrderIsClock(t *testing.T) {
	d := fullDict(t, 8)
	var evicted []string
	setRemoveHook(d, func(key []byte, why removeReason) {
		if why != removedEvicted {
			t.Fatalf("unexpected removal reason %d", why)
		}
		evicted = append(evicted, string(key))
	})
	// Read k0 (Get sets its bit) and write k1 (in-place Set moves it to the
	// head).
	if _, ok := d.GetString("k0", nil); !ok {
		t.Fatal("k0 missing")
	}
	_ = d.SetString("k1", StringValue("short"), 0)
	// A failed Add and a TTL read must not count as uses.
	_ = d.Add([]byte("k2"), IntValue(1), 0)
	_, _ = d.TTL([]byte("k3"))

	for _, k := range []string{"n1", "n2", "n3"} {
		if err := d.SetString(k, StringValue(strings.Repeat("w", 40)), 0); err != nil {
			t.Fatal(err)
		}
	}
	// The hand first meets k0, whose bit is set: it goes to the head, ahead
	// of k1. Then the untouched k2..k7 go in insertion order, then k1, then
	// k0. A full shard frees capacity/compactSlack more than one entry
	// needs, so more than three may go, but always in this order.
	lru := []string{"k2", "k3", "k4", "k5", "k6", "k7", "k1", "k0"}
	if len(evicted) < 3 || !equalStrings(evicted, lru[:len(evicted)]) {
		t.Fatalf("evicted %q, want a prefix of %q of at least 3", evicted, lru)
	}
	want := []string{"n3", "n2", "n1"}
	for i := len(lru) - 1; i >= len(evicted); i-- {
		want = append(want, lru[i])
	}
	if got := lruOrder(d, 0); !equalStrings(got, want) {
		t.Fatalf("list order %q, want %q", got, want)
	}
	if d.Stats().Evictions != uint64(len(evicted)) {
		t.Fatalf("Evictions = %d, hook saw %d", d.Stats().Evictions, len(evicted))
	}
	checkInvariants(t, d)
}

// TestEvictionFreesBoundedSlack pins how much Sets on a full shard evict:
// what the new entry needs, plus at most capacity/compactSlack when the
// arena has to be compacted (so compaction is amortized), never more.
func TestEvictionFreesBoundedSlack(t *testing.T) {
	d := fullDict(t, 64)
	s := &d.shards[0]
	entry := accountedSize(2, 40)
	for i := range 200 {
		_ = d.SetString(fmt.Sprintf("n%d", i), StringValue(strings.Repeat("w", 40)), 0)
		if free := s.capacity - s.used(); free > s.capacity/compactSlack+entry {
			t.Fatalf("after evicting Set #%d, %d bytes free, want at most capacity/%d + one entry = %d",
				i, free, compactSlack, s.capacity/compactSlack+entry)
		}
	}
	if d.Stats().Evictions < 200 {
		t.Fatalf("%d evictions for 200 new entries in a full dict", d.Stats().Evictions)
	}
	checkInvariants(t, d)
}

func TestSafeSetNeverEvicts(t *testing.T) {
	d := fullDict(t, 4)
	big := StringValue(strings.Repeat("x", 80))
	for name, op := range map[string]func() error{
		"SafeSet new":   func() error { return d.SafeSet([]byte("new"), IntValue(1), 0) },
		"SafeAdd new":   func() error { return d.SafeAdd([]byte("new"), IntValue(1), 0) },
		"SafeSet grows": func() error { return d.SafeSet([]byte("k0"), big, 0) },
	} {
		if err := op(); !errors.Is(err, ErrNoMemory) {
			t.Errorf("%s on a full dict: %v, want ErrNoMemory", name, err)
		}
	}
	if d.Len() != 4 {
		t.Fatalf("a failed safe write removed entries: Len %d", d.Len())
	}
	if v, ok := d.GetString("k0", nil); !ok || len(v.Bytes) != 40 {
		t.Fatal("a failed SafeSet changed the old value")
	}
	// In place still works when full.
	if err := d.SafeSet([]byte("k0"), StringValue("fits"), 0); err != nil {
		t.Fatalf("in-place SafeSet on a full dict: %v", err)
	}
	// After a delete, the freed bytes are reusable (compaction).
	d.DeleteString("k2")
	if err := d.SafeSet([]byte("k9"), StringValue(strings.Repeat("y", 40)), 0); err != nil {
		t.Fatalf("SafeSet into freed space: %v", err)
	}
	checkInvariants(t, d)
}

func TestCapacityAccounting(t *testing.T) {
	d := mustNew(t, 1<<20, WithShards(1))
	tests := []struct {
		key   string
		value Value
		want  int64
	}{
		{"a", IntValue(1), 16 + EntryOverhead},                             // 8 header + 1 key -> 16
		{"abcdefgh", BoolValue(true), 16 + EntryOverhead},                  // 8 + 8
		{"abcdefghi", FloatValue(1), 24 + EntryOverhead},                   // 8 + 9 -> 24
		{"k", StringValue("1234567"), 16 + EntryOverhead},                  // 8 + 1 + 7
		{"k2", StringValue(strings.Repeat("z", 100)), 112 + EntryOverhead}, // 8 + 2 + 100 -> 112
	}
	var total int64
	for _, tt := range tests {
		before := d.FreeSpace()
		_ = d.SetString(tt.key, tt.value, 0)
		if got := before - d.FreeSpace(); got != tt.want {
			t.Errorf("Set(%q, %v) charged %d bytes, want %d", tt.key, tt.value, got, tt.want)
		}
		total += tt.want
	}
	if st := d.Stats(); st.Used != total || st.Entries != len(tests) {
		t.Fatalf("stats %+v, want used %d", st, total)
	}
	if EntryOverhead < 64 {
		t.Fatalf("EntryOverhead %d does not cover the 64-byte entry", EntryOverhead)
	}
}

// TestChurnStaysBounded writes far more than the capacity in mixed sizes and
// checks the dict never goes over, the arena stays within the capacity and
// compaction keeps the structure intact.
func TestChurnStaysBounded(t *testing.T) {
	d := mustNew(t, 64<<10, WithShards(2))
	for i := range 20000 {
		key := []byte(fmt.Sprintf("key-%d", i%3000))
		val := strings.Repeat("v", (i*7919)%700)
		if err := d.Set(key, StringValue(val), 0); err != nil {
			t.Fatalf("Set #%d: %v", i, err)
		}
		if i%500 == 0 {
			checkInvariants(t, d)
		}
	}
	checkInvariants(t, d)
	for i := range d.shards {
		if c := 8 * len(d.shards[i].arenaView().words); int64(c) > d.shards[i].capacity {
			t.Fatalf("shard %d arena capacity %d above shard capacity %d", i, c, d.shards[i].capacity)
		}
	}
	if d.Stats().Evictions == 0 {
		t.Fatal("churn never evicted")
	}
}
