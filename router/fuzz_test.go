package router

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Pieces the structured fuzz target builds routes and requests from: few
// enough that generated routes overlap and requests hit them often.
var (
	fuzzHosts    = []string{"a.com", "*.a.com", "b.a.com", "*.b.a.com", "A.COM", "*", "[::1]"}
	fuzzSegs     = []string{"a", "b", "{x}", "{y}", "", "c"}
	fuzzMethods  = []string{"GET", "POST", "PUT"}
	fuzzReqHosts = []string{"a.com", "b.a.com", "c.b.a.com", "A.com:80", "x.org", "", "a.com.", "[::1]:8080", "B.A.COM"}
	fuzzReqSegs  = []string{"a", "b", "c", "", "zz"}
)

// fuzzReader hands out small numbers from the fuzz input, zeros once it is
// used up.
type fuzzReader struct{ data []byte }

func (r *fuzzReader) next(n int) int {
	if len(r.data) == 0 {
		return 0
	}
	v := int(r.data[0]) % n
	r.data = r.data[1:]
	return v
}

func (r *fuzzReader) path(segs []string, prefixOK bool) string {
	p := ""
	for i, n := 0, r.next(4)+1; i < n; i++ {
		p += "/" + segs[r.next(len(segs))]
	}
	if prefixOK && r.next(3) == 0 {
		if p == "/" {
			return "/*"
		}
		p += "/*"
	}
	return p
}

func (r *fuzzReader) pick(list []string, max int) []string {
	var out []string
	for i, n := 0, r.next(max+1); i < n; i++ {
		out = append(out, list[r.next(len(list))])
	}
	return out
}

// match draws a route's Match: up to two hosts, two paths and two methods.
func (r *fuzzReader) match() Match {
	m := Match{Hosts: r.pick(fuzzHosts, 2), Methods: r.pick(fuzzMethods, 2)}
	for i, n := 0, r.next(3); i < n; i++ {
		m.Paths = append(m.Paths, r.path(fuzzSegs, true))
	}
	return m
}

// FuzzLookupAgainstLinear builds a route set from the input, checks that
// Build refuses it exactly when the reference finds a conflict, then checks
// that Table and the linear reference agree on the winner, the prefix length
// and the parameters of requests also drawn from the input.
func FuzzLookupAgainstLinear(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 0, 1, 0, 1, 2, 0, 0, 3, 1, 1})
	f.Add([]byte{6, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte("route set with some bytes to spread over the choices, long enough to draw requests"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{data: data}
		var b Builder
		var lin linearTable
		for route, n := 0, r.next(8)+1; route < n; route++ {
			m := r.match()
			errB, errL := b.Add(m, route), lin.add(m, route)
			if (errB == nil) != (errL == nil) {
				t.Fatalf("Add(%+v) = %v, reference %v", m, errB, errL)
			}
			if errB != nil {
				return
			}
		}
		tbl, err := b.Build()
		if conflict := lin.conflict(); conflict != (err != nil) {
			t.Fatalf("Build error %v, reference conflict %v", err, conflict)
		}
		if err != nil {
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("Build: %v", err)
			}
			return
		}
		for i := 0; i < 8; i++ {
			host := []byte(fuzzReqHosts[r.next(len(fuzzReqHosts))])
			path := []byte(r.path(fuzzReqSegs, false))
			method := []byte(fuzzMethods[r.next(len(fuzzMethods))])
			checkAgainstLinear(t, tbl, &lin, host, path, method)
		}
	})
}

func checkAgainstLinear(t *testing.T, tbl *Table, lin *linearTable, host, path, method []byte) {
	t.Helper()
	checkSameAnswer(t, "table", tbl.Lookup, "linear", lin.lookup, host, path, method)
}

type lookupFunc func(host, path, method []byte, params *Params) (route, prefixLen int, ok bool)

// checkSameAnswer checks that two routers, named a and b in messages,
// answer a request alike: route, prefix length and parameters.
func checkSameAnswer(t *testing.T, aName string, a lookupFunc, bName string, b lookupFunc, host, path, method []byte) {
	t.Helper()
	var p1, p2 Params
	r1, l1, ok1 := a(host, path, method, &p1)
	r2, l2, ok2 := b(host, path, method, &p2)
	if r1 != r2 || l1 != l2 || ok1 != ok2 || p1 != p2 {
		t.Fatalf("Lookup(%q, %q, %q): %s (%d, %d, %v, %+v), %s (%d, %d, %v, %+v)",
			host, path, method, aName, r1, l1, ok1, p1, bName, r2, l2, ok2, p2)
	}
}

// FuzzPatterns feeds arbitrary patterns and requests: Add and Lookup must
// never panic, and a table built from valid patterns must agree with the
// reference.
func FuzzPatterns(f *testing.F) {
	f.Add("*.example.com", "/users/{id}", "GET", "a.example.com:80", "/users/7", "GET")
	f.Add("api.example.com", "/api/*", "", "API.example.com", "/api/x/y", "POST")
	f.Add("[::1]", "/", "PUT", "[::1]:443", "/", "PUT")
	f.Add("*", "/{a}/{b}/c", "", "", "/x/y/c", "GET")
	f.Fuzz(func(t *testing.T, hostPat, pathPat, methodPat, host, path, method string) {
		var b Builder
		var lin linearTable
		m := Match{Hosts: []string{hostPat}, Paths: []string{pathPat}}
		if methodPat != "" {
			m.Methods = []string{methodPat}
		}
		errB, errL := b.Add(m, 0), lin.add(m, 0)
		if (errB == nil) != (errL == nil) {
			t.Fatalf("Add = %v, reference %v", errB, errL)
		}
		// A catch-all second route, so that misses of the first still match.
		if err := b.Add(Match{}, 1); err != nil {
			t.Fatal(err)
		}
		if err := lin.add(Match{}, 1); err != nil {
			t.Fatal(err)
		}
		tbl, err := b.Build()
		if conflict := lin.conflict(); conflict != (err != nil) {
			t.Fatalf("Build error %v, reference conflict %v", err, conflict)
		}
		if err != nil {
			return
		}
		checkAgainstLinear(t, tbl, &lin, []byte(host), []byte(path), []byte(method))
	})
}

// FuzzParsePath checks the one-pass parse of patterns without parameters
// against parseSegments, which parses any pattern segment by segment: the
// same pattern, or the same error.
func FuzzParsePath(f *testing.F) {
	for _, p := range []string{"/", "/*", "//", "/a/", "/a/b", "/a/*", "/*/*", "/a*", "/a*/b", "/a b", "/a?b", "/~u/%41:@!$&'()+,;=", "/a/{x}", "/a/x{y}", "/{a}/*"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := parsePath(p)
		if p == "" || p[0] != '/' {
			if err == nil {
				t.Fatalf("parsePath(%q) accepted it", p)
			}
			return
		}
		body, prefix := p, false
		if strings.HasSuffix(p, "/*") {
			body, prefix = p[:len(p)-2], true
		}
		want, wantErr := parseSegments(p, body, prefix)
		if !reflect.DeepEqual(got, want) || errString(err) != errString(wantErr) {
			t.Fatalf("parsePath(%q) = %+v, %v; parseSegments: %+v, %v", p, got, err, want, wantErr)
		}
	})
}
