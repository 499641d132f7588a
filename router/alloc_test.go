//go:build !race

package router

import "testing"

// TestLookupAllocs pins Lookup's promise: no allocation, whichever kind of
// pattern wins, with and without Params, including misses.
func TestLookupAllocs(t *testing.T) {
	routes, reqs := benchRoutes(1000)
	tbl := mustBuild(t, routes)
	extra := mustBuild(t, []Match{
		{Hosts: []string{"*.example.com"}, Paths: []string{"/w/{a}/{b}"}},
		{Hosts: []string{"API.example.com"}, Paths: []string{"/e"}, Methods: []string{"GET"}},
	})
	var ps Params
	for _, r := range reqs {
		allocs := testing.AllocsPerRun(100, func() {
			tbl.Lookup(r.host, r.path, r.method, &ps)
		})
		if allocs != 0 {
			t.Errorf("Lookup(%q, %q, %q): %v allocs, want 0", r.host, r.path, r.method, allocs)
		}
	}
	for _, r := range []benchRequest{
		{[]byte("X.Y.Example.COM:443"), []byte("/w/1/2"), []byte("GET")},
		{[]byte("api.example.com."), []byte("/e"), []byte("GET")},
		{[]byte("[::1]:80"), []byte("/nothing"), []byte("GET")},
	} {
		allocs := testing.AllocsPerRun(100, func() {
			extra.Lookup(r.host, r.path, r.method, &ps)
			extra.Lookup(r.host, r.path, r.method, nil)
		})
		if allocs != 0 {
			t.Errorf("Lookup(%q, %q, %q): %v allocs, want 0", r.host, r.path, r.method, allocs)
		}
	}
	// A table made by Update shares most of its parts with the one it came
	// from and owns the rest: neither allocates on Lookup.
	updated, err := tbl.Update(len(routes), &Match{Hosts: []string{"*.example.org"}, Paths: []string{"/api/v1/svc0/users/{id}"}})
	if err != nil {
		t.Fatal(err)
	}
	if updated, err = updated.Update(0, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if allocs := testing.AllocsPerRun(100, func() { updated.Lookup(r.host, r.path, r.method, &ps) }); allocs != 0 {
			t.Errorf("Lookup(%q, %q, %q) on an updated table: %v allocs, want 0", r.host, r.path, r.method, allocs)
		}
	}
	path := []byte("/w/1/2")
	extra.Lookup([]byte("a.example.com"), path, []byte("GET"), &ps)
	if allocs := testing.AllocsPerRun(100, func() { ps.Get("b", path) }); allocs != 0 {
		t.Errorf("Params.Get: %v allocs, want 0", allocs)
	}
}
