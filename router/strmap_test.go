package router

import (
	"iter"
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
)

// checkStrMap checks m against want and m's own invariants: the count, an
// empty slot in every page, every key found where its probe leads.
func checkStrMap(t *testing.T, m *strMap[*int], want map[string]*int) {
	t.Helper()
	if m.n != len(want) {
		t.Fatalf("n = %d, want %d", m.n, len(want))
	}
	got := maps.Collect(m.all())
	if !maps.Equal(got, want) {
		t.Fatalf("map holds %v, want %v", got, want)
	}
	for k, v := range want {
		if m.get(k) != v || m.lookup([]byte(k)) != v {
			t.Fatalf("get(%q) = %v, want %v", k, m.get(k), v)
		}
	}
	if m.get("absent") != nil {
		t.Fatal("an absent key was found")
	}
	for i, p := range m.pages {
		used := 0
		for _, s := range p.slots {
			if s.hash != 0 {
				used++
			}
		}
		if used != p.n || used >= len(p.slots) {
			t.Fatalf("page %d: %d used of %d, counted %d", i, used, len(p.slots), p.n)
		}
	}
}

// TestStrMapAgainstGoMap applies random sets and deletes, several per edit,
// each edit to a copy of the previous version, and checks every version
// still holds what it held when its edit ended: the copy-on-write promise
// Table.Update rests on. Sizes swing from empty to thousands of keys so
// that maps grow, shrink and empty again.
func TestStrMapAgainstGoMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := make([]int, 64)
	type version struct {
		m    strMap[*int]
		want map[string]*int
	}
	var cur version
	cur.want = map[string]*int{}
	var versions []version
	for round := 0; round < 300; round++ {
		ed := new(edit)
		next := version{m: cur.m, want: maps.Clone(cur.want)}
		// Phases of growth and of shrinking, and keys from a range that
		// follows the size, so that sets replace and deletes find keys.
		keys := 8 << (round / 20 % 9)
		growing := round%20 < 12
		for op, n := 0, rng.IntN(keys/4+8); op < n; op++ {
			k := strconv.Itoa(rng.IntN(keys))
			if op%5 == 0 {
				k = ""
			}
			if growing == (rng.IntN(4) > 0) {
				v := &vals[rng.IntN(len(vals))]
				*next.m.ref(ed, k) = v
				next.want[k] = v
			} else {
				next.m.delete(ed, k)
				delete(next.want, k)
			}
		}
		if round%20 == 19 {
			for k := range next.want {
				next.m.delete(ed, k)
				delete(next.want, k)
			}
		}
		checkStrMap(t, &next.m, next.want)
		if n, slots := next.m.n, next.m.slotCount(); 2*n > slots || 8*n < slots && slots > 8 {
			t.Fatalf("%d keys in %d slots", n, slots)
		}
		versions = append(versions, cur)
		cur = next
		for _, v := range versions[max(0, len(versions)-5):] {
			checkStrMap(t, &v.m, v.want)
		}
	}
	for _, v := range versions {
		checkStrMap(t, &v.m, v.want)
	}
}

// TestStrMapResizeUntilFits covers the way out of a full page, which
// random keys at most half the slots never take: a rehash into too few
// slots reports failure and leaves the map alone, and resize doubles until
// every page keeps an empty slot.
func TestStrMapResizeUntilFits(t *testing.T) {
	ed := new(edit)
	var m strMap[*int]
	want := map[string]*int{}
	v := new(int)
	for i := range 300 {
		k := strconv.Itoa(i)
		*m.ref(ed, k) = v
		want[k] = v
	}
	if m.rehash(ed, 256) {
		t.Fatal("300 keys fitted in 256 slots")
	}
	checkStrMap(t, &m, want)
	// Room for 100 keys is 256 slots, too few for 300: resize doubles.
	m.resize(ed, 100)
	checkStrMap(t, &m, want)
}

// all yields every key and value, in no particular order.
func (m *strMap[V]) all() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for _, p := range m.pages {
			for _, s := range p.slots {
				if s.hash != 0 && !yield(s.key, s.val) {
					return
				}
			}
		}
	}
}
