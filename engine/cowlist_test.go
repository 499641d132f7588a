package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Versions made by edits of cowLists read what plain slices copied whole
// would read, and an edit never changes a version made before it, even
// when two edits of one version append to it (a refused compile and the
// next one both start from the running version).
func TestCowListVersionsStayAsMade(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	type version struct {
		l    cowList[int]
		want []int
	}
	versions := []version{{}}
	for step := 0; step < 3000; step++ {
		base := versions[len(versions)-1]
		if rng.IntN(3) == 0 {
			base = versions[rng.IntN(len(versions))] // a fork
		}
		var e *cowEdit[int]
		want := slices.Clone(base.want)
		if rng.IntN(50) == 0 {
			e = newList[int](rng.IntN(3 * cowChunk))
			want = make([]int, e.Len())
		} else {
			e = editList(base.l)
		}
		for range rng.IntN(8) {
			v := rng.Int()
			if i := rng.IntN(e.Len() + 1); i < e.Len() && rng.IntN(4) > 0 {
				e.Set(i, v)
				want[i] = v
			} else {
				e.Set(e.Len(), v)
				want = append(want, v)
			}
		}
		versions = append(versions, version{e.list(), want})
		for vi, v := range versions {
			if v.l.Len() != len(v.want) {
				t.Fatalf("step %d: version %d has %d entries, want %d", step, vi, v.l.Len(), len(v.want))
			}
			if len(v.want) > 0 {
				i := rng.IntN(len(v.want))
				if v.l.At(i) != v.want[i] {
					t.Fatalf("step %d: version %d entry %d is %d, want %d", step, vi, i, v.l.At(i), v.want[i])
				}
			}
		}
	}
	for vi, v := range versions {
		var got []int
		v.l.each(func(i, x int) {
			if i != len(got) {
				t.Fatalf("version %d: each gave index %d after %d entries", vi, i, len(got))
			}
			got = append(got, x)
		})
		if !slices.Equal(got, v.want) && len(got)+len(v.want) > 0 {
			t.Fatalf("version %d changed: %v, want %v", vi, got, v.want)
		}
	}
}

// An edit of one entry of 10,000 copies one chunk, not the list.
func TestCowListEditCopiesOneChunk(t *testing.T) {
	e := newList[*Route](10000)
	base := e.list()
	allocs := testing.AllocsPerRun(100, func() {
		e := editList(base)
		e.Set(5000, nil)
		_ = e.list()
	})
	// The edit, its chunk directory and ownership flags, one chunk.
	if allocs > 4 {
		t.Fatalf("%v allocations per edit", allocs)
	}
}

func BenchmarkCowListEditOneOf10k(b *testing.B) {
	base := newList[*Route](10000).list()
	b.ReportAllocs()
	for b.Loop() {
		e := editList(base)
		e.Set(5000, nil)
		base = e.list()
	}
}
