package router

import (
	"fmt"
	"strconv"
	"testing"
)

type benchRequest struct {
	host, path, method []byte
}

// loopCPU runs body as b's loop and reports, beside ns/op, cpu-ns/op: the
// CPU time of the whole process per iteration, garbage collection
// included. On a shared, loaded machine wall time includes waiting for a
// core; CPU time does not.
func loopCPU(b *testing.B, body func(i int)) {
	b.ReportAllocs()
	start, ok := processCPUNanos()
	i := 0
	for ; b.Loop(); i++ {
		body(i)
	}
	if end, ok2 := processCPUNanos(); ok && ok2 && i > 0 {
		b.ReportMetric(float64(end-start)/float64(i), "cpu-ns/op")
	}
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
			var ps Params
			loopCPU(b, func(i int) {
				r := &reqs[i%len(reqs)]
				tbl.Lookup(r.host, r.path, r.method, &ps)
			})
		})
		b.Run(fmt.Sprintf("routes=%d/linear", n), func(b *testing.B) {
			var ps Params
			loopCPU(b, func(i int) {
				r := &reqs[i%len(reqs)]
				lin.lookup(r.host, r.path, r.method, &ps)
			})
		})
	}
}

// gatewayRoutes returns n routes shaped like a large gateway's, as the
// Admin API edits them: mostly a prefix per service ("/svc123/*"), a fifth
// with parameters ("/svc123/users/{id}/orders", GET), a tenth exact, and a
// few on hosts of their own or wildcard hosts.
func gatewayRoutes(n int) []Match {
	routes := make([]Match, n)
	for i := range routes {
		svc := "/svc" + strconv.Itoa(i)
		var m Match
		switch i % 10 {
		case 6, 7:
			m.Paths = []string{svc + "/users/{id}/orders"}
			m.Methods = []string{"GET"}
		case 8:
			m.Paths = []string{svc + "/health"}
		default:
			m.Paths = []string{svc + "/*"}
		}
		switch i % 100 {
		case 19:
			m.Hosts = []string{"api" + strconv.Itoa(i%7) + ".example.com"}
		case 59:
			m.Hosts = []string{"*.tenant" + strconv.Itoa(i%5) + ".example.com"}
		}
		routes[i] = m
	}
	return routes
}

// BenchmarkBuild measures compiling a table, which happens once per
// configuration change: all is Builder.Add of every route then Build, add
// is the Adds alone (parsing the patterns), build is Build alone.
func BenchmarkBuild(b *testing.B) {
	type buildSet struct {
		name   string
		routes []Match
	}
	var sets []buildSet
	for _, n := range []int{10, 100, 1000} {
		routes, _ := benchRoutes(n)
		sets = append(sets, buildSet{fmt.Sprintf("routes=%d", n), routes})
	}
	sets = append(sets, buildSet{"gateway/routes=10000", gatewayRoutes(10000)})
	for _, set := range sets {
		add := func(b *testing.B) *Builder {
			var bld Builder
			for i, m := range set.routes {
				if err := bld.Add(m, i); err != nil {
					b.Fatal(err)
				}
			}
			return &bld
		}
		build := func(b *testing.B, bld *Builder) {
			if _, err := bld.Build(); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(set.name+"/all", func(b *testing.B) {
			loopCPU(b, func(int) { build(b, add(b)) })
		})
		b.Run(set.name+"/add", func(b *testing.B) {
			loopCPU(b, func(int) { add(b) })
		})
		b.Run(set.name+"/build", func(b *testing.B) {
			bld := add(b)
			loopCPU(b, func(int) { build(b, bld) })
		})
	}
}

// BenchmarkTableUpdate measures Table.Update of one route of a 10,000-route
// table (gatewayRoutes), each time from the same table: replacing a
// route's match, adding a route, removing one; rebuild is the way without
// Update, Add of every route and Build.
func BenchmarkTableUpdate(b *testing.B) {
	const n = 10000
	routes := gatewayRoutes(n)
	tbl := mustBuild(b, routes)
	// A replacement moves a route's path within its service.
	moved := make([]Match, n)
	for i, m := range routes {
		svc := "/svc" + strconv.Itoa(i)
		moved[i] = Match{Hosts: m.Hosts, Methods: m.Methods, Paths: []string{svc + "/v2" + m.Paths[0][len(svc):]}}
	}
	update := func(b *testing.B, route int, m *Match) {
		if _, err := tbl.Update(route, m); err != nil {
			b.Fatal(err)
		}
	}
	// Routes are taken all over the table, not one after another.
	spread := func(i int) int { return i * 7919 % n }
	b.Run(fmt.Sprintf("routes=%d/replace", n), func(b *testing.B) {
		loopCPU(b, func(i int) { update(b, spread(i), &moved[spread(i)]) })
	})
	b.Run(fmt.Sprintf("routes=%d/add", n), func(b *testing.B) {
		loopCPU(b, func(i int) { update(b, n+spread(i), &moved[spread(i)]) })
	})
	b.Run(fmt.Sprintf("routes=%d/remove", n), func(b *testing.B) {
		loopCPU(b, func(i int) { update(b, spread(i), nil) })
	})
	b.Run(fmt.Sprintf("routes=%d/rebuild", n), func(b *testing.B) {
		loopCPU(b, func(i int) {
			var bld Builder
			for j, m := range routes {
				if j == spread(i) {
					m = moved[j]
				}
				if err := bld.Add(m, j); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := bld.Build(); err != nil {
				b.Fatal(err)
			}
		})
	})
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
