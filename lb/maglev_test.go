package lb

import (
	"encoding/binary"
	"math"
	"testing"
)

// remapShare returns the share of keys whose target address differs
// between two snapshots of the Hash balancer.
func remapShare(t *testing.T, before, after []TargetSpec, keys int) float64 {
	t.Helper()
	lookup := func(sp []TargetSpec) []string {
		u, _ := newTestUpstream(t, Config{Balancer: Hash})
		if err := u.Update(sp); err != nil {
			t.Fatal(err)
		}
		p := u.newPicker(1)
		out := make([]string, keys)
		var key [8]byte
		for i := range keys {
			binary.LittleEndian.PutUint64(key[:], uint64(i)*0x9e3779b97f4a7c15)
			out[i] = mustPick(t, p, key[:], nil).Addr
		}
		return out
	}
	a, b := lookup(before), lookup(after)
	moved := 0
	for i := range a {
		if a[i] != b[i] {
			moved++
		}
	}
	return float64(moved) / float64(keys)
}

// TestMaglevRemapShare measures how many keys move when 1 target joins 10
// (ideal 1/11 ≈ 9.1%) or 1 of 10 leaves (ideal 1/10).
func TestMaglevRemapShare(t *testing.T) {
	const keys = 200_000
	ten := specs(1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	eleven := specs(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	nine := append(append([]TargetSpec(nil), ten[:4]...), ten[5:]...)
	cases := []struct {
		name          string
		before, after []TargetSpec
		ideal         float64
	}{
		{"join 1 to 10", ten, eleven, 1.0 / 11},
		{"leave 1 of 10", ten, nine, 1.0 / 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			share := remapShare(t, c.before, c.after, keys)
			t.Logf("remap share %.4f (ideal %.4f)", share, c.ideal)
			if share < c.ideal*0.95 || share > c.ideal*1.25 {
				t.Fatalf("remap share %.4f, want about %.4f", share, c.ideal)
			}
		})
	}
}

// TestMaglevTableShares: slot shares follow weights within 1% of the table.
func TestMaglevTableShares(t *testing.T) {
	weights := []int{1, 2, 3, 4, 10}
	u, _ := newTestUpstream(t, Config{Balancer: Hash}, weights...)
	s := u.Snapshot()
	counts := make([]int, len(weights))
	for _, idx := range s.primary.table {
		counts[idx]++
	}
	for i, w := range weights {
		got := float64(counts[i]) / float64(len(s.primary.table))
		want := float64(w) / 20
		if math.Abs(got-want) > 0.01 {
			t.Errorf("target %d: %.4f of the slots, want %.4f", i, got, want)
		}
	}
}

// TestHashDownTargetMovesOnlyItsKeys: when a target goes down its keys
// spread over the others and no other key moves; when it comes back its keys
// return.
func TestHashDownTargetMovesOnlyItsKeys(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Balancer: Hash, MaxEjectedPercent: 100}, 1, 1, 1, 1, 1)
	ts := u.Snapshot().Targets()
	p := u.newPicker(3)
	const keys = 20_000
	before := make([]*Target, keys)
	var key [8]byte
	for i := range keys {
		binary.LittleEndian.PutUint64(key[:], uint64(i))
		before[i] = mustPick(t, p, key[:], nil)
	}
	failTarget(ts[2], 1)
	spread := map[*Target]int{}
	for i := range keys {
		binary.LittleEndian.PutUint64(key[:], uint64(i))
		got := mustPick(t, p, key[:], nil)
		if before[i] != ts[2] && got != before[i] {
			t.Fatalf("key %d moved from %s to %s though its target is up", i, before[i].Addr, got.Addr)
		}
		if before[i] == ts[2] {
			spread[got]++
		}
	}
	if len(spread) != 4 {
		t.Fatalf("keys of the down target went to %d targets, want 4", len(spread))
	}
	for x, n := range spread {
		if n < keys/5/4/2 {
			t.Errorf("%s got only %d of the down target's keys", x.Addr, n)
		}
	}
}

func TestHashSameKeySameTargetAcrossRebuilds(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Balancer: Hash}, 1, 2, 3)
	p := u.newPicker(5)
	first := mustPick(t, p, []byte("user-42"), nil)
	if err := u.Update(specs(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if got := mustPick(t, p, []byte("user-42"), nil); got != first {
		t.Fatalf("same key went to %s after a rebuild, was %s", got.Addr, first.Addr)
	}
}

func TestDefaultTableSize(t *testing.T) {
	for _, c := range []struct{ n, want int }{{1, 65537}, {655, 65537}, {656, 65609}, {1000, 100003}} {
		if got := defaultTableSize(c.n); got != c.want {
			t.Errorf("defaultTableSize(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}
