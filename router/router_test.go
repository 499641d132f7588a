package router

import (
	"errors"
	"testing"
)

// lookupCase is one request against a route set: want is the index of the
// route that must win (-1: none), prefixLen the returned prefix length and
// params the wanted parameters as name, value pairs.
type lookupCase struct {
	name               string
	host, path, method string
	want               int
	prefixLen          int
	params             []string
}

func mustBuild(t testing.TB, routes []Match) *Table {
	t.Helper()
	var b Builder
	for i, m := range routes {
		if err := b.Add(m, i); err != nil {
			t.Fatalf("Add(%d): %v", i, err)
		}
	}
	tbl, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tbl
}

func runLookupCases(t *testing.T, routes []Match, cases []lookupCase) {
	t.Helper()
	tbl := mustBuild(t, routes)
	var ref linearTable
	for i, m := range routes {
		if err := ref.add(m, i); err != nil {
			t.Fatalf("reference add(%d): %v", i, err)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = "GET"
			}
			var ps Params
			route, prefixLen, ok := tbl.Lookup([]byte(c.host), []byte(c.path), []byte(method), &ps)
			if c.want < 0 {
				if ok {
					t.Fatalf("Lookup(%q, %q, %q) = route %d, want no match", c.host, c.path, method, route)
				}
			} else if !ok || route != c.want || prefixLen != c.prefixLen {
				t.Fatalf("Lookup(%q, %q, %q) = (%d, %d, %v), want (%d, %d, true)",
					c.host, c.path, method, route, prefixLen, ok, c.want, c.prefixLen)
			}
			if ps.Len()*2 != len(c.params) {
				t.Fatalf("got %d params, want %v", ps.Len(), c.params)
			}
			for i := 0; i < len(c.params); i += 2 {
				v, found := ps.Get(c.params[i], []byte(c.path))
				if !found || string(v) != c.params[i+1] {
					t.Fatalf("param %q = %q, %v; want %q", c.params[i], v, found, c.params[i+1])
				}
			}
			refRoute, refPrefix, refOK := ref.lookup([]byte(c.host), []byte(c.path), []byte(method), nil)
			if refOK != ok || ok && (refRoute != route || refPrefix != prefixLen) {
				t.Fatalf("reference disagrees: (%d, %d, %v)", refRoute, refPrefix, refOK)
			}
		})
	}
}

func TestLookupHostSpecificity(t *testing.T) {
	routes := []Match{
		0: {},
		1: {Hosts: []string{"*.example.com"}},
		2: {Hosts: []string{"api.example.com"}},
		3: {Hosts: []string{"*.eu.example.com"}},
		4: {Hosts: []string{"[::1]"}},
		5: {Hosts: []string{"Only.Example.COM"}, Paths: []string{"/only"}},
		6: {Hosts: []string{"*"}, Paths: []string{"/star"}},
	}
	runLookupCases(t, routes, []lookupCase{
		{name: "exact beats wildcard and any", host: "api.example.com", path: "/x", want: 2},
		{name: "wildcard beats any", host: "web.example.com", path: "/x", want: 1},
		{name: "wildcard matches any depth", host: "a.b.example.com", path: "/x", want: 1},
		{name: "longer wildcard suffix wins", host: "paris.eu.example.com", path: "/x", want: 3},
		{name: "wildcard does not match its apex", host: "example.com", path: "/x", want: 0},
		{name: "wildcard does not match a longer label", host: "badexample.com", path: "/x", want: 0},
		{name: "port is stripped", host: "api.example.com:8443", path: "/x", want: 2},
		{name: "case-insensitive", host: "API.Example.Com", path: "/x", want: 2},
		{name: "trailing dot", host: "api.example.com.", path: "/x", want: 2},
		{name: "ipv6 literal with port", host: "[::1]:8080", path: "/x", want: 4},
		{name: "no host matches any only", host: "", path: "/x", want: 0},
		{name: "unknown host falls to any", host: "other.org", path: "/x", want: 0},
		{name: "exact host without its path falls back to any", host: "only.example.com", path: "/x", want: 1},
		{name: "exact host pattern lowered", host: "only.example.com", path: "/only", want: 5},
		{name: "star host is any", host: "whatever", path: "/star", want: 6},
		{name: "host longer than 253 bytes matches any only", host: string(make253("a")) + ".example.com", path: "/x", want: 0},
	})
}

func make253(label string) []byte {
	b := make([]byte, 0, 260)
	for len(b) < 250 {
		b = append(b, label...)
		b = append(b, '.')
	}
	return append(b, label...)
}

func TestLookupPathSpecificity(t *testing.T) {
	routes := []Match{
		0:  {Paths: []string{"/*"}},
		1:  {Paths: []string{"/api/*"}},
		2:  {Paths: []string{"/api/v1/*"}},
		3:  {Paths: []string{"/api/users/{id}"}},
		4:  {Paths: []string{"/api/users/me"}},
		5:  {Paths: []string{"/api/{kind}/{id}"}},
		6:  {Paths: []string{"/a/{x}/c/d"}},
		7:  {Paths: []string{"/a/b/{y}/{z}"}},
		8:  {Paths: []string{"/p/{x}/q"}},
		9:  {Paths: []string{"/p/q/{y}"}},
		10: {Paths: []string{"/exact"}},
		11: {Paths: []string{"/files/{name}/"}},
		12: {Paths: []string{"/"}},
	}
	runLookupCases(t, routes, []lookupCase{
		{name: "exact beats parameter", path: "/api/users/me", want: 4},
		{name: "more literals win", path: "/api/users/42", want: 3, params: []string{"id", "42"}},
		{name: "parameters beat prefix", path: "/api/groups/7", want: 5, params: []string{"kind", "groups", "id", "7"}},
		{name: "parameter needs a non-empty segment", path: "/api/users/", want: 1, prefixLen: 4},
		{name: "parameter pattern needs its segment count", path: "/api/users/42/x", want: 1, prefixLen: 4},
		{name: "more literal segments beat an earlier literal", path: "/a/b/c/d", want: 6, params: []string{"x", "b"}},
		{name: "equal literals: earliest literal wins", path: "/p/q/q", want: 9, params: []string{"y", "q"}},
		{name: "equal literals: only one matches", path: "/p/z/q", want: 8, params: []string{"x", "z"}},
		{name: "longest prefix wins", path: "/api/v1/things/x", want: 2, prefixLen: 7},
		{name: "prefix matches its own path", path: "/api/v1", want: 2, prefixLen: 7},
		{name: "prefix matches with trailing slash", path: "/api/v1/", want: 2, prefixLen: 7},
		{name: "prefix is segment-aligned", path: "/api/v10", want: 1, prefixLen: 4},
		{name: "prefix is segment-aligned at the top", path: "/apis", want: 0},
		{name: "root prefix matches everything", path: "/nothing/here", want: 0},
		{name: "exact is byte-exact", path: "/exact/", want: 0},
		{name: "exact is case-sensitive", path: "/EXACT", want: 0},
		{name: "exact", path: "/exact", want: 10},
		{name: "trailing empty segment literal", path: "/files/a.txt/", want: 11, params: []string{"name", "a.txt"}},
		{name: "root exact beats root prefix", path: "/", want: 12},
		{name: "empty path matches the root prefix only", path: "", want: 0},
		{name: "asterisk form matches nothing", path: "*", want: -1},
	})
}

func TestLookupMethods(t *testing.T) {
	routes := []Match{
		0: {Paths: []string{"/r"}},
		1: {Paths: []string{"/r"}, Methods: []string{"GET", "HEAD"}},
		2: {Paths: []string{"/r"}, Methods: []string{"POST"}},
		3: {Paths: []string{"/only-delete"}, Methods: []string{"DELETE"}},
		4: {Paths: []string{"/m/*"}, Methods: []string{"PUT"}},
		5: {Paths: []string{"/m/{x}"}},
		6: {Hosts: []string{"h.example"}, Paths: []string{"/r"}, Methods: []string{"PATCH"}},
	}
	runLookupCases(t, routes, []lookupCase{
		{name: "listed method beats any", path: "/r", method: "GET", want: 1},
		{name: "second listed method", path: "/r", method: "HEAD", want: 1},
		{name: "other route's method", path: "/r", method: "POST", want: 2},
		{name: "unlisted method falls to any", path: "/r", method: "PUT", want: 0},
		{name: "methods are case-sensitive", path: "/r", method: "get", want: 0},
		{name: "no route for the method", path: "/only-delete", method: "GET", want: -1},
		{name: "method listed", path: "/only-delete", method: "DELETE", want: 3},
		{name: "path beats method: parameter any-method over prefix with method", path: "/m/x", method: "PUT", want: 5, params: []string{"x", "x"}},
		{name: "falls to a less specific path for the method", path: "/m/x/y", method: "PUT", want: 4, prefixLen: 2},
		{name: "exact host without the method falls back to any host", host: "h.example", path: "/r", method: "GET", want: 1},
		{name: "exact host with the method", host: "h.example", path: "/r", method: "PATCH", want: 6},
	})
}

func TestLookupParamsReset(t *testing.T) {
	tbl := mustBuild(t, []Match{{Paths: []string{"/u/{id}"}}, {Paths: []string{"/x"}}})
	var ps Params
	if _, _, ok := tbl.Lookup(nil, []byte("/u/7"), []byte("GET"), &ps); !ok || ps.Len() != 1 {
		t.Fatalf("want one param, got %d", ps.Len())
	}
	if p := ps.At(0); p.Name != "id" || p.Val != [2]uint32{3, 1} {
		t.Fatalf("At(0) = %+v", p)
	}
	if _, _, ok := tbl.Lookup(nil, []byte("/x"), []byte("GET"), &ps); !ok || ps.Len() != 0 {
		t.Fatalf("params not reset: %d", ps.Len())
	}
	if _, found := ps.Get("id", []byte("/x")); found {
		t.Fatal("Get found a stale parameter")
	}
	if v := (&Params{n: 1, list: [MaxParams]Param{{Name: "a", Val: [2]uint32{5, 5}}}}).Value(0, []byte("/short")); v != nil {
		t.Fatalf("Value past the path = %q, want nil", v)
	}
}

func TestLookupSameRouteTwice(t *testing.T) {
	// One route may list overlapping patterns; it is not a conflict with itself.
	tbl := mustBuild(t, []Match{{Paths: []string{"/a", "/a", "/b/{x}", "/b/{y}"}, Methods: []string{"GET", "GET"}}})
	if r, _, ok := tbl.Lookup(nil, []byte("/b/1"), []byte("GET"), nil); !ok || r != 0 {
		t.Fatalf("got %d %v", r, ok)
	}
}

func TestAddRejectsBadPatterns(t *testing.T) {
	cases := []struct {
		name  string
		m     Match
		field string
		err   error
	}{
		{"host with port", Match{Hosts: []string{"a.com:80"}}, "hosts", ErrBadHost},
		{"empty host", Match{Hosts: []string{""}}, "hosts", ErrBadHost},
		{"inner wildcard", Match{Hosts: []string{"a.*.com"}}, "hosts", ErrBadHost},
		{"double wildcard", Match{Hosts: []string{"*.*.com"}}, "hosts", ErrBadHost},
		{"empty label", Match{Hosts: []string{"a..com"}}, "hosts", ErrBadHost},
		{"bad host byte", Match{Hosts: []string{"a b.com"}}, "hosts", ErrBadHost},
		{"ipv6 with port", Match{Hosts: []string{"[::1]:80"}}, "hosts", ErrBadHost},
		{"unclosed ipv6", Match{Hosts: []string{"[::1"}}, "hosts", ErrBadHost},
		{"relative path", Match{Paths: []string{"api"}}, "paths", ErrBadPath},
		{"empty path", Match{Paths: []string{""}}, "paths", ErrBadPath},
		{"star inside", Match{Paths: []string{"/a*/b"}}, "paths", ErrBadPath},
		{"star without slash", Match{Paths: []string{"/api*"}}, "paths", ErrBadPath},
		{"partial parameter", Match{Paths: []string{"/a/x{id}"}}, "paths", ErrBadPath},
		{"empty parameter name", Match{Paths: []string{"/a/{}"}}, "paths", ErrBadPath},
		{"bad parameter name", Match{Paths: []string{"/a/{1d}"}}, "paths", ErrBadPath},
		{"duplicate parameter", Match{Paths: []string{"/{a}/{a}"}}, "paths", ErrBadPath},
		{"parameter in prefix", Match{Paths: []string{"/{a}/*"}}, "paths", ErrBadPath},
		{"query in path", Match{Paths: []string{"/a?b"}}, "paths", ErrBadPath},
		{"space in path", Match{Paths: []string{"/a b"}}, "paths", ErrBadPath},
		{"too many parameters", Match{Paths: []string{"/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"}}, "paths", ErrTooManyParams},
		{"empty method", Match{Methods: []string{""}}, "methods", ErrBadMethod},
		{"method with space", Match{Methods: []string{"GE T"}}, "methods", ErrBadMethod},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b Builder
			err := b.Add(c.m, 3)
			if !errors.Is(err, c.err) {
				t.Fatalf("Add = %v, want %v", err, c.err)
			}
			var pe *PatternError
			if !errors.As(err, &pe) || pe.Field != c.field || pe.Route != 3 || pe.Index != 0 {
				t.Fatalf("Add = %#v, want a PatternError on %s[0] of route 3", err, c.field)
			}
			if len(b.chunks) != 0 {
				t.Fatal("a refused route was added")
			}
		})
	}
	var b Builder
	if err := b.Add(Match{}, -1); !errors.Is(err, ErrBadRoute) {
		t.Fatalf("negative route: %v", err)
	}
}

func TestAddAcceptsPatterns(t *testing.T) {
	var b Builder
	m := Match{
		Hosts:   []string{"*", "a.com", "*.a.com", "A-B_c.example.", "10.0.0.1", "[::1]", "[fe80::1%25eth0]"},
		Paths:   []string{"/", "/*", "/a/*", "/a/{b}/c", "/~user/%41:@!$&'()+,;=", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"},
		Methods: []string{"GET", "M-SEARCH", "PROPFIND"},
	}
	if err := b.Add(m, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
}

func TestBuildConflicts(t *testing.T) {
	cases := []struct {
		name     string
		a, b     Match
		conflict bool
		method   string
	}{
		{"same exact path", Match{Paths: []string{"/x"}}, Match{Paths: []string{"/x"}}, true, ""},
		{"same parameters, other names", Match{Paths: []string{"/u/{id}"}}, Match{Paths: []string{"/u/{uid}"}}, true, ""},
		{"same prefix", Match{Paths: []string{"/x/*"}}, Match{Paths: []string{"/x/*"}}, true, ""},
		{"empty paths is the root prefix", Match{}, Match{Paths: []string{"/*"}}, true, ""},
		{"shared method", Match{Paths: []string{"/x"}, Methods: []string{"GET", "POST"}}, Match{Paths: []string{"/x"}, Methods: []string{"POST"}}, true, "POST"},
		{"host case", Match{Hosts: []string{"A.com"}}, Match{Hosts: []string{"a.com"}}, true, ""},
		{"star host is no host", Match{Hosts: []string{"*"}}, Match{}, true, ""},
		{"disjoint methods", Match{Paths: []string{"/x"}, Methods: []string{"GET"}}, Match{Paths: []string{"/x"}, Methods: []string{"POST"}}, false, ""},
		{"any method beside listed", Match{Paths: []string{"/x"}}, Match{Paths: []string{"/x"}, Methods: []string{"GET"}}, false, ""},
		{"other host", Match{Hosts: []string{"a.com"}}, Match{Hosts: []string{"b.com"}}, false, ""},
		{"exact versus prefix", Match{Paths: []string{"/x"}}, Match{Paths: []string{"/x/*"}}, false, ""},
		{"wildcard versus exact host", Match{Hosts: []string{"*.a.com"}}, Match{Hosts: []string{"b.a.com"}}, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b Builder
			if err := b.Add(c.a, 0); err != nil {
				t.Fatal(err)
			}
			if err := b.Add(c.b, 1); err != nil {
				t.Fatal(err)
			}
			tbl, err := b.Build()
			if !c.conflict {
				if err != nil || tbl == nil {
					t.Fatalf("Build = %v", err)
				}
				return
			}
			var ce *ConflictError
			if tbl != nil || !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
				t.Fatalf("Build = %v, want a conflict", err)
			}
			if ce.Route != 1 || ce.Other != 0 || ce.Method != c.method {
				t.Fatalf("conflict = %+v", ce)
			}
		})
	}
}

func TestBuildReportsEveryConflict(t *testing.T) {
	var b Builder
	for i := 0; i < 3; i++ {
		if err := b.Add(Match{Paths: []string{"/a", "/b"}}, i); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.Build()
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 4 {
		t.Fatalf("want 4 conflicts (routes 1 and 2 on /a and /b), got %v", err)
	}
}

func TestEmptyTable(t *testing.T) {
	var b Builder
	tbl, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := tbl.Lookup([]byte("a"), []byte("/"), []byte("GET"), nil); ok {
		t.Fatal("empty table matched")
	}
}
