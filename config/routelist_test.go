package config

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
)

// Every version of a history of route edits over several chunks (puts in
// place, additions, deletions, forks from older versions) has the routes
// a plain list would have, revisions for each of them, and the layout a
// parse of the same routes has, so that configurations compare equal
// however they were made.
func TestEditedRoutesStayAsMade(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	type version struct {
		cfg   *Config
		names []string
	}
	first := routesConfig(t, 600)
	names := make([]string, 600)
	for i := range names {
		names[i] = fmt.Sprintf("r%d", i)
	}
	versions := []version{{first, names}}
	for step := 0; step < 400; step++ {
		base := versions[len(versions)-1]
		if rng.IntN(4) == 0 {
			base = versions[rng.IntN(len(versions))]
		}
		name := fmt.Sprintf("r%d", rng.IntN(700))
		i := slices.Index(base.names, name)
		want := slices.Clone(base.names)
		var next *Config
		var err error
		if i >= 0 && rng.IntN(5) == 0 {
			if next, _, err = base.cfg.DeleteRoute(name); err != nil {
				t.Fatal(err)
			}
			want = slices.Delete(want, i, i+1)
		} else {
			doc := fmt.Sprintf(`{"match": {"paths": ["/s%d/*"]}, "upstream": "up"}`, step)
			if next, _, err = base.cfg.PutRoute(name, []byte(doc), "body"); err != nil {
				t.Fatal(err)
			}
			if i < 0 {
				want = append(want, name)
			}
		}
		versions = append(versions, version{next, want})
	}
	for vi, v := range versions {
		var got []string
		for j, r := range v.cfg.Routes.All() {
			got = append(got, r.Name)
			if v.cfg.RouteRev(j) == 0 {
				t.Fatalf("version %d: route %d has no revision", vi, j)
			}
		}
		if !slices.Equal(got, v.names) {
			t.Fatalf("version %d: routes %v, want %v", vi, got, v.names)
		}
		if !reflect.DeepEqual(v.cfg.Routes, Routes(v.cfg.Routes.Slice()...)) {
			t.Fatalf("version %d: the list's layout differs from a new list of its routes", vi)
		}
	}
}

// Replacing one route of 10,000 leaves the collector kilobytes, not a
// copy of the route list and of its revisions (160 KB before RouteList).
func TestPutRouteCopiesNoWholeList(t *testing.T) {
	if testing.Short() {
		t.Skip("parses 10,000 routes")
	}
	cfg := routesConfig(t, 10000)
	const edits = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for n := range edits {
		doc := fmt.Appendf(nil, `{"match": {"paths": ["/e%d/*"]}, "upstream": "up"}`, n)
		next, _, err := cfg.PutRoute(fmt.Sprintf("r%d", n*197), doc, "body")
		if err != nil {
			t.Fatal(err)
		}
		cfg = next
	}
	runtime.ReadMemStats(&after)
	// The route's decoding and validation (about 30 KB), a chunk of
	// routes and one of revisions (2 KB each), their chunk directories.
	per := (after.TotalAlloc - before.TotalAlloc) / edits
	t.Logf("%d bytes per edit", per)
	if per > 64<<10 {
		t.Fatalf("%d bytes allocated per edit of one route of 10,000", per)
	}
}
