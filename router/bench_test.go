package router

import (
	"fmt"
	"strconv"
	"testing"
)

type benchRequest struct {
	host, path, method []byte
}

// benchRoutes returns n routes shaped like an API gateway's (a service per
// ten routes, most with parameters, some exact, some prefixes, a tenth on
// their own host or a wildcard host) and requests that hit routes spread
// over the whole table, plus misses.
func benchRoutes(n int) ([]Match, []benchRequest) {
	routes := make([]Match, 0, n)
	var reqs []benchRequest
	for i := 0; len(routes) < n; i++ {
		svc := "svc" + strconv.Itoa(i)
		var hosts []string
		switch i % 10 {
		case 3:
			hosts = []string{svc + ".example.com"}
		case 7:
			hosts = []string{"*." + svc + ".example.com"}
		}
		base := "/api/v1/" + svc
		add := func(m Match) {
			if len(routes) < n {
				m.Hosts = hosts
				routes = append(routes, m)
			}
		}
		add(Match{Paths: []string{base + "/users/{id}"}, Methods: []string{"GET"}})
		add(Match{Paths: []string{base + "/users/{id}"}, Methods: []string{"PUT", "DELETE"}})
		add(Match{Paths: []string{base + "/users"}, Methods: []string{"GET", "POST"}})
		add(Match{Paths: []string{base + "/users/{id}/orders/{order}"}})
		add(Match{Paths: []string{base + "/users/me"}})
		add(Match{Paths: []string{base + "/items/{sku}/reviews"}})
		add(Match{Paths: []string{base + "/health"}})
		add(Match{Paths: []string{"/static/" + svc + "/*"}})
		add(Match{Paths: []string{base + "/*"}})
		add(Match{Paths: []string{"/v2/" + svc + "/{a}/{b}/{c}"}})
		host := []byte("gw.example.org")
		switch i % 10 {
		case 3:
			host = []byte(svc + ".example.com:443")
		case 7:
			host = []byte("eu." + svc + ".Example.com")
		}
		if i%7 == 0 || len(routes) == n {
			reqs = append(reqs,
				benchRequest{host, []byte(base + "/users/12345"), []byte("GET")},
				benchRequest{host, []byte(base + "/users/12345/orders/99"), []byte("GET")},
				benchRequest{host, []byte(base + "/users"), []byte("POST")},
				benchRequest{host, []byte("/static/" + svc + "/js/app.js"), []byte("GET")},
				benchRequest{host, []byte(base + "/unknown/deep/path"), []byte("GET")},
			)
		}
	}
	reqs = append(reqs, benchRequest{[]byte("gw.example.org"), []byte("/nowhere/at/all"), []byte("GET")})
	return routes, reqs
}

// BenchmarkLookup compares Table.Lookup with the linear scan of every
// pattern (the simplest correct router) at 10, 100 and 1,000 routes; each
// iteration is one request, cycling over requests spread across the table.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		routes, reqs := benchRoutes(n)
		tbl := mustBuild(b, routes)
		var lin linearTable
		for i, m := range routes {
			if err := lin.add(m, i); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("routes=%d/table", n), func(b *testing.B) {
			b.ReportAllocs()
			var ps Params
			for i := 0; b.Loop(); i++ {
				r := &reqs[i%len(reqs)]
				tbl.Lookup(r.host, r.path, r.method, &ps)
			}
		})
		b.Run(fmt.Sprintf("routes=%d/linear", n), func(b *testing.B) {
			b.ReportAllocs()
			var ps Params
			for i := 0; b.Loop(); i++ {
				r := &reqs[i%len(reqs)]
				lin.lookup(r.host, r.path, r.method, &ps)
			}
		})
	}
}

// BenchmarkBuild measures compiling a table, which happens once per
// configuration change.
func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		routes, _ := benchRoutes(n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var bld Builder
				for i, m := range routes {
					if err := bld.Add(m, i); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := bld.Build(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchRoutesAgree checks that the benchmark's two routers answer the
// benchmark's requests alike, and that most requests hit a route.
func TestBenchRoutesAgree(t *testing.T) {
	for _, n := range []int{10, 100, 1000} {
		routes, reqs := benchRoutes(n)
		if len(routes) != n {
			t.Fatalf("benchRoutes(%d) made %d routes", n, len(routes))
		}
		tbl := mustBuild(t, routes)
		var lin linearTable
		for i, m := range routes {
			if err := lin.add(m, i); err != nil {
				t.Fatal(err)
			}
		}
		hits := 0
		for _, r := range reqs {
			var p1, p2 Params
			r1, l1, ok1 := tbl.Lookup(r.host, r.path, r.method, &p1)
			r2, l2, ok2 := lin.lookup(r.host, r.path, r.method, &p2)
			if r1 != r2 || l1 != l2 || ok1 != ok2 || p1 != p2 {
				t.Fatalf("n=%d %q %q: table (%d,%d,%v,%v) linear (%d,%d,%v,%v)", n, r.host, r.path, r1, l1, ok1, p1, r2, l2, ok2, p2)
			}
			if ok1 {
				hits++
			}
		}
		if hits < len(reqs)/2 {
			t.Fatalf("n=%d: only %d of %d requests hit a route", n, hits, len(reqs))
		}
	}
}
