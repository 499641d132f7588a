package cow

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// Versions made by edits read what plain slices copied whole would read,
// and an edit never changes a version made before it, even when two edits
// of one version append to it or delete from it (a refused change and the
// next one both start from the running version).
func TestVersionsStayAsMade(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	type version struct {
		l    List[int]
		want []int
	}
	versions := []version{{}}
	for step := 0; step < 3000; step++ {
		base := versions[len(versions)-1]
		if rng.IntN(3) == 0 {
			base = versions[rng.IntN(len(versions))] // a fork
		}
		var e *Editor[int]
		want := slices.Clone(base.want)
		switch rng.IntN(50) {
		case 0:
			e = Make[int](rng.IntN(3 * chunkLen))
			want = make([]int, e.Len())
		case 1:
			want = make([]int, rng.IntN(3*chunkLen))
			for i := range want {
				want[i] = rng.Int()
			}
			e = Edit(From(want))
		default:
			e = Edit(base.l)
		}
		for range rng.IntN(8) {
			v := rng.Int()
			switch i := rng.IntN(e.Len() + 1); {
			case i < e.Len() && rng.IntN(5) == 0:
				e.Delete(i)
				want = slices.Delete(want, i, i+1)
			case i < e.Len() && rng.IntN(4) > 0:
				e.Set(i, v)
				want[i] = v
			default:
				e.Set(e.Len(), v)
				want = append(want, v)
			}
		}
		versions = append(versions, version{e.List(), want})
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
		for i, x := range v.l.All() {
			if i != len(got) {
				t.Fatalf("version %d: All gave index %d after %d entries", vi, i, len(got))
			}
			got = append(got, x)
		}
		if !slices.Equal(got, v.want) {
			t.Fatalf("version %d changed: %v, want %v", vi, got, v.want)
		}
		if !slices.Equal(v.l.Slice(), v.want) {
			t.Fatalf("version %d: Slice %v, want %v", vi, v.l.Slice(), v.want)
		}
		// The layout is the same however the version was made.
		if !reflect.DeepEqual(v.l, From(v.want)) {
			t.Fatalf("version %d: not DeepEqual to the list of its entries", vi)
		}
	}
}

// Changed finds exactly the positions whose entries differ, between
// versions that share chunks and between lists made apart.
func TestChangedFindsTheDifferingPositions(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	base := make([]int, 3*chunkLen+17)
	for i := range base {
		base[i] = i
	}
	a := From(base)
	for round := 0; round < 200; round++ {
		e := Edit(a)
		want := map[int]bool{}
		for range rng.IntN(6) {
			i := rng.IntN(e.Len())
			e.Set(i, -1-rng.IntN(100))
			want[i] = e.At(i) != a.At(i)
		}
		if rng.IntN(3) == 0 {
			e.Set(e.Len(), 5) // beyond a: not compared
		}
		b := e.List()
		if rng.IntN(4) == 0 {
			b = From(b.Slice()) // no chunk shared
		}
		got := map[int]bool{}
		for i := range Changed(a, b) {
			got[i] = true
		}
		for i, changed := range want {
			if changed != got[i] {
				t.Fatalf("round %d: position %d changed %v, Changed says %v", round, i, changed, got[i])
			}
			delete(got, i)
		}
		if len(got) > 0 {
			t.Fatalf("round %d: Changed gave positions not changed: %v", round, got)
		}
	}
}

func TestSameIsOneVersion(t *testing.T) {
	a := From([]int{1, 2, 3})
	b := a
	if !Same(a, b) || Same(a, From([]int{1, 2, 3})) {
		t.Fatal("Same: copies of one version are the same, lists made apart are not")
	}
	if !Same(List[int]{}, From[int](nil)) {
		t.Fatal("empty lists are the same")
	}
}

// An edit of one entry of 10,000 copies one chunk, not the list.
func TestEditCopiesOneChunk(t *testing.T) {
	base := Make[*int](10000).List()
	allocs := testing.AllocsPerRun(100, func() {
		e := Edit(base)
		e.Set(5000, nil)
		_ = e.List()
	})
	// The editor, its chunk directory and ownership flags, one chunk.
	if allocs > 4 {
		t.Fatalf("%v allocations per edit", allocs)
	}
}

func BenchmarkEditOneOf10k(b *testing.B) {
	base := Make[*int](10000).List()
	b.ReportAllocs()
	for b.Loop() {
		e := Edit(base)
		e.Set(5000, nil)
		base = e.List()
	}
}

func BenchmarkChangedOneOf10k(b *testing.B) {
	a := Make[int](10000).List()
	e := Edit(a)
	e.Set(5000, 1)
	c := e.List()
	b.ReportAllocs()
	for b.Loop() {
		for range Changed(a, c) {
		}
	}
}
