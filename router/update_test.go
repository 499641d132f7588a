package router

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// routeSet is the reference of the Update tests: the Match of each route,
// as a Builder would be given them.
type routeSet map[int]Match

// build builds rs afresh with a Builder, adding the routes in index order
// but for last, which is added last: Update reports conflicts as the
// updated route's, added after the others.
func (rs routeSet) build(last int) (*Table, error) {
	var b Builder
	for _, route := range slices.Sorted(maps.Keys(rs)) {
		if route != last {
			if err := b.Add(rs[route], route); err != nil {
				return nil, err
			}
		}
	}
	if m, ok := rs[last]; ok {
		if err := b.Add(m, last); err != nil {
			return nil, err
		}
	}
	return b.Build()
}

// with returns a copy of rs in which route matches m, or nothing if m is
// nil.
func (rs routeSet) with(route int, m *Match) routeSet {
	next := maps.Clone(rs)
	if m == nil {
		delete(next, route)
	} else {
		next[route] = *m
	}
	return next
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// updateRequests are the requests the Update tests ask of tables, drawn
// once from the fuzz pieces.
var updateRequests = func() (reqs []benchRequest) {
	rng := rand.New(rand.NewPCG(7, 7))
	data := make([]byte, 4*300)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	r := &fuzzReader{data: data}
	for range 300 {
		reqs = append(reqs, benchRequest{
			host:   []byte(fuzzReqHosts[r.next(len(fuzzReqHosts))]),
			path:   []byte(r.path(fuzzReqSegs, false)),
			method: []byte(fuzzMethods[r.next(len(fuzzMethods))]),
		})
	}
	return reqs
}()

// checkSameTable checks that got holds what want holds and answers every
// request alike.
func checkSameTable(t *testing.T, got, want *Table) {
	t.Helper()
	if g, w := dumpTable(got), dumpTable(want); g != w {
		t.Fatalf("updated table:\n%s\nbuilt afresh:\n%s", g, w)
	}
	for _, r := range updateRequests {
		checkSameAnswer(t, "updated", got.Lookup, "built", want.Lookup, r.host, r.path, r.method)
	}
}

// updateVersion is a table, the routes it should hold and its dump when it
// was made.
type updateVersion struct {
	table  *Table
	routes routeSet
	dump   string
}

// checkUpdates applies Updates drawn from r (adds, replacements, removals,
// bad patterns, conflicts, route indexes small and large), each to the
// latest table or to an older one, and checks every result against a
// table built afresh from the same routes, every error against the error
// of Add or Build, and at the end that no Update changed a table it
// started from.
func checkUpdates(t *testing.T, r *fuzzReader) {
	versions := []updateVersion{{table: &Table{}, routes: routeSet{}}}
	versions[0].dump = dumpTable(versions[0].table)
	for step := 0; step < 40 && len(r.data) > 0; step++ {
		base := versions[len(versions)-1]
		if r.next(4) == 0 {
			base = versions[r.next(len(versions))]
		}
		route := r.next(8)
		switch r.next(16) {
		case 0:
			route = 1000 + r.next(3)
		case 1:
			route = 1<<40 + r.next(3)
		case 2:
			route = -1
		}
		var m *Match
		if r.next(5) > 0 {
			mm := r.match()
			if r.next(10) == 0 {
				mm.Hosts = append(mm.Hosts, "a.com:80")
				mm.Paths = append(mm.Paths, "/a*")
			}
			m = &mm
		}
		routes := base.routes.with(route, m)
		want, wantErr := routes.build(route)
		if route < 0 {
			want, wantErr = nil, ErrBadRoute
		}
		got, err := base.table.Update(route, m)
		if errString(err) != errString(wantErr) {
			t.Fatalf("step %d: Update(%d, %+v) = %v, Builder says %v", step, route, m, err, wantErr)
		}
		if err != nil {
			if got != nil {
				t.Fatalf("step %d: Update returned a table and %v", step, err)
			}
			continue
		}
		checkSameTable(t, got, want)
		versions = append(versions, updateVersion{table: got, routes: routes, dump: dumpTable(got)})
	}
	for i, v := range versions {
		if d := dumpTable(v.table); d != v.dump {
			t.Fatalf("version %d changed after later Updates:\n%s\nwas:\n%s", i, d, v.dump)
		}
	}
}

// TestUpdateAgainstBuild runs checkUpdates on pseudo-random inputs, the
// same on every run.
func TestUpdateAgainstBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	runs := 150
	if testing.Short() {
		runs = 15
	}
	for run := range runs {
		data := make([]byte, 600)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		t.Run(fmt.Sprint(run), func(t *testing.T) { checkUpdates(t, &fuzzReader{data: data}) })
	}
}

// FuzzUpdateAgainstBuild is checkUpdates on fuzzed inputs.
func FuzzUpdateAgainstBuild(f *testing.F) {
	f.Add([]byte{1, 2, 1, 1, 1, 2, 3, 0, 1, 2, 3, 1, 4, 1, 1, 3, 2, 0, 0, 1, 4, 4, 2, 3, 1, 0, 1, 1})
	f.Add([]byte("a sequence of updates with enough bytes to add, replace and remove several routes"))
	f.Fuzz(func(t *testing.T, data []byte) { checkUpdates(t, &fuzzReader{data: data}) })
}

// TestUpdateKeepsOldTable updates a 1,000-route table in every way, each
// Update from the same table and in a chain, and checks that the table
// answers as before and holds the same after each.
func TestUpdateKeepsOldTable(t *testing.T) {
	routes, reqs := benchRoutes(1000)
	rs := routeSet{}
	for i, m := range routes {
		rs[i] = m
	}
	tbl := mustBuild(t, routes)
	dump := dumpTable(tbl)
	answers := lookupAll(tbl, reqs)
	chain := tbl
	for i, u := range []struct {
		route int
		m     *Match
	}{
		{0, &Match{Paths: []string{"/moved/{id}"}, Methods: []string{"GET"}}},
		{7, &Match{Paths: []string{"/static/other/*"}}},
		{3, nil},
		{1000, &Match{Hosts: []string{"*.new.example.com"}, Paths: []string{"/x"}}},
		{33, nil},
		{8, &Match{Paths: []string{"/api/v1/svc0/users/{id}"}, Methods: []string{"DELETE"}}}, // conflicts with route 1
		{5, &Match{Paths: []string{"/bad*"}}},
		{999, nil},
	} {
		for _, from := range []*Table{tbl, chain} {
			next, err := from.Update(u.route, u.m)
			if err == nil {
				chain = next
			}
			if d := dumpTable(tbl); d != dump {
				t.Fatalf("update %d changed the table it started from", i)
			}
			if got := lookupAll(tbl, reqs); !slices.Equal(got, answers) {
				t.Fatalf("update %d changed the answers of the table it started from", i)
			}
		}
	}
	var b Builder
	for i, m := range routes {
		switch i {
		case 3, 33, 999:
			continue
		case 0:
			m = Match{Paths: []string{"/moved/{id}"}, Methods: []string{"GET"}}
		case 7:
			m = Match{Paths: []string{"/static/other/*"}}
		}
		if err := b.Add(m, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(Match{Hosts: []string{"*.new.example.com"}, Paths: []string{"/x"}}, 1000); err != nil {
		t.Fatal(err)
	}
	want, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	checkSameTable(t, chain, want)
}

// lookupAll returns the answers of tbl to reqs as strings.
func lookupAll(tbl *Table, reqs []benchRequest) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		var ps Params
		route, prefixLen, ok := tbl.Lookup(r.host, r.path, r.method, &ps)
		out[i] = fmt.Sprint(route, prefixLen, ok, ps)
	}
	return out
}

// TestUpdateConcurrentLookups runs Lookups on a table while Updates derive
// tables from it, several at once, for the race detector; the readers must
// see the table's answers throughout and every Update's result must equal
// a table built afresh.
func TestUpdateConcurrentLookups(t *testing.T) {
	routes, reqs := benchRoutes(300)
	tbl := mustBuild(t, routes)
	answers := lookupAll(tbl, reqs)
	rs := routeSet{}
	for i, m := range routes {
		rs[i] = m
	}
	stop := make(chan struct{})
	var readers, writers sync.WaitGroup
	readerErrs := make(chan error, 4)
	for range 4 {
		readers.Go(func() {
			for {
				if got := lookupAll(tbl, reqs); !slices.Equal(got, answers) {
					readerErrs <- errors.New("the table answered differently during Updates")
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	results := make([]*Table, 3)
	sets := make([]routeSet, 3)
	writerErrs := make([]error, 3)
	for w := range results {
		writers.Go(func() {
			cur, set := tbl, rs
			for i := range 60 {
				route := (w*97 + i*31) % 320
				var m *Match
				if i%3 != 2 {
					m = &Match{Paths: []string{fmt.Sprintf("/w%d/r%d/*", w, i)}, Methods: []string{"GET"}}
				}
				next, err := cur.Update(route, m)
				if err != nil {
					writerErrs[w] = err
					return
				}
				cur, set = next, set.with(route, m)
			}
			results[w], sets[w] = cur, set
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	close(readerErrs)
	for err := range readerErrs {
		t.Fatal(err)
	}
	if err := errors.Join(writerErrs...); err != nil {
		t.Fatal(err)
	}
	for w, got := range results {
		want, err := sets[w].build(-1)
		if err != nil {
			t.Fatal(err)
		}
		checkSameTable(t, got, want)
	}
}

func TestUpdateErrors(t *testing.T) {
	tbl := mustBuild(t, []Match{
		{Paths: []string{"/a"}},
		{Hosts: []string{"x.com"}, Paths: []string{"/u/{id}"}, Methods: []string{"GET", "PUT"}},
	})
	dump := dumpTable(tbl)
	cases := []struct {
		name  string
		route int
		m     *Match
		want  string
	}{
		{"negative route", -1, &Match{}, ErrBadRoute.Error()},
		{"negative route removed", -1, nil, ErrBadRoute.Error()},
		{"bad patterns", 5, &Match{Hosts: []string{"a.com:1"}, Paths: []string{"/ok", "/x*"}},
			`route 5: hosts[0] "a.com:1": router: bad host pattern: must not carry a port (hosts are matched without it)` + "\n" +
				`route 5: paths[1] "/x*": router: bad path pattern: "*" only as a final "/*"`},
		{"conflict", 2, &Match{Paths: []string{"/a", "/b"}},
			`router: routes 0 and 2 both match host "*", path "/a", any method`},
		{"conflicts on methods", 7, &Match{Hosts: []string{"X.com"}, Paths: []string{"/u/{uid}"}, Methods: []string{"PUT", "GET"}},
			`router: routes 1 and 7 both match host "x.com", path "/u/{uid}", method PUT` + "\n" +
				`router: routes 1 and 7 both match host "x.com", path "/u/{uid}", method GET`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := tbl.Update(c.route, c.m)
			if got != nil || errString(err) != c.want {
				t.Fatalf("Update = %v, %v; want %s", got, err, c.want)
			}
			if dumpTable(tbl) != dump {
				t.Fatal("a refused Update changed the table")
			}
		})
	}
	var ce *ConflictError
	if _, err := tbl.Update(2, &Match{Paths: []string{"/a"}}); !errors.As(err, &ce) || !errors.Is(err, ErrConflict) || ce.Route != 2 || ce.Other != 0 {
		t.Fatalf("conflict = %#v", err)
	}
	var pe *PatternError
	if _, err := tbl.Update(2, &Match{Methods: []string{"G T"}}); !errors.As(err, &pe) || !errors.Is(err, ErrBadMethod) || pe.Route != 2 {
		t.Fatalf("bad method = %#v", err)
	}
	// A route may take over what it matched itself.
	if _, err := tbl.Update(0, &Match{Paths: []string{"/a", "/b"}}); err != nil {
		t.Fatal(err)
	}
}

// TestUpdateReplacesEveryAdd: a route added more than once to a Builder
// matches the union of its Adds; Update replaces all of them.
func TestUpdateReplacesEveryAdd(t *testing.T) {
	var b Builder
	for _, m := range []Match{{Paths: []string{"/a"}}, {Paths: []string{"/b/{x}"}, Methods: []string{"GET"}}} {
		if err := b.Add(m, 4); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(Match{Hosts: []string{"*.a.com"}}, 1); err != nil {
		t.Fatal(err)
	}
	tbl, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	rs := routeSet{1: {Hosts: []string{"*.a.com"}}}
	for _, m := range []*Match{{Paths: []string{"/b/{y}"}}, nil} {
		got, err := tbl.Update(4, m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := rs.with(4, m).build(4)
		if err != nil {
			t.Fatal(err)
		}
		checkSameTable(t, got, want)
	}
}

// TestUpdateEmptiesTable removes every route: the table is left as empty
// as a zero Table, its groups, nodes and bounds gone.
func TestUpdateEmptiesTable(t *testing.T) {
	routes, _ := benchRoutes(100)
	tbl := mustBuild(t, routes)
	for i := range routes {
		var err error
		if tbl, err = tbl.Update(i, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := dumpTable(tbl), dumpTable(&Table{}); got != want {
		t.Fatalf("emptied table:\n%s\nwant:\n%s", got, want)
	}
	if tbl.anyHost != nil || tbl.exactHosts.pages != nil || tbl.wildHosts.pages != nil {
		t.Fatal("the emptied table keeps groups")
	}
}
