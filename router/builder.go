package router

import "errors"

// Match is what a route matches. An empty list matches anything: any host,
// every path ("/*"), any method. See the package doc for the patterns.
type Match struct {
	Hosts, Paths, Methods []string
}

// Builder collects routes and compiles them into a Table. The zero Builder
// is ready to use. A Builder is not safe for concurrent use; Build does not
// change it, so more routes may be added and Build called again.
type Builder struct {
	// chunks hold the entries in the order of Add. A chunk is never
	// reallocated once made, so tables keep slices of it, and Add copies
	// no entries to grow.
	chunks [][]entry
}

// maxChunk bounds the chunks of a Builder; they start small.
const maxChunk = 1024

type entry struct {
	route   int
	hosts   []hostPattern
	paths   []pathPattern
	methods []string
}

// Add adds route, the index the caller will get back from Lookup, matching
// m. It validates every pattern and returns all the bad ones joined
// (errors.Join of *PatternError), adding nothing in that case. The same
// route index may be added more than once; its matches are unioned.
func (b *Builder) Add(m Match, route int) error {
	e, err := parseEntry(&m, route)
	if err != nil {
		return err
	}
	if n := len(b.chunks); n == 0 || len(b.chunks[n-1]) == cap(b.chunks[n-1]) {
		b.chunks = append(b.chunks, make([]entry, 0, min(maxChunk, 8<<n)))
	}
	last := &b.chunks[len(b.chunks)-1]
	*last = append(*last, e)
	return nil
}

// Defaults of an entry without hosts or without paths, shared by all.
var (
	anyHosts = []hostPattern{{kind: hostAny}}
	allPaths = []pathPattern{{kind: pathPrefix, raw: "/*", key: ""}}
)

// parseEntry validates and parses m for Add and Update.
func parseEntry(m *Match, route int) (entry, error) {
	if route < 0 {
		return entry{}, ErrBadRoute
	}
	e := entry{route: route, hosts: anyHosts, paths: allPaths}
	var errs []error
	bad := func(field string, i int, p string, err error) {
		errs = append(errs, &PatternError{Route: route, Field: field, Index: i, Pattern: p, Err: err})
	}
	if len(m.Hosts) > 0 {
		e.hosts = make([]hostPattern, 0, len(m.Hosts))
	}
	for i, h := range m.Hosts {
		hp, err := parseHost(h)
		if err != nil {
			bad("hosts", i, h, err)
			continue
		}
		e.hosts = append(e.hosts, hp)
	}
	if len(m.Paths) > 0 {
		e.paths = make([]pathPattern, 0, len(m.Paths))
	}
	for i, p := range m.Paths {
		pp, err := parsePath(p)
		if err != nil {
			bad("paths", i, p, err)
			continue
		}
		e.paths = append(e.paths, pp)
	}
	for i, meth := range m.Methods {
		if err := CheckMethod(meth); err != nil {
			bad("methods", i, meth, err)
		}
	}
	if len(errs) > 0 {
		return entry{}, errors.Join(errs...)
	}
	if len(m.Methods) > 0 {
		e.methods = append([]string(nil), m.Methods...)
	}
	return e, nil
}

// Build compiles the routes added so far into a Table. Routes that match
// exactly the same requests (see the package doc) are refused: the error
// joins a *ConflictError for each such pair, in the order they were added.
func (b *Builder) Build() (*Table, error) {
	ed := new(edit)
	t := &Table{}
	t.presize(ed, b.chunks)
	var errs []error
	for _, chunk := range b.chunks {
		for i := range chunk {
			e := &chunk[i]
			errs = t.insert(ed, e, errs)
			// Most routes are added once: their entries are a slice of
			// the chunk, which Add never writes again.
			if entries := t.routes.ref(ed, e.route); *entries == nil {
				*entries = chunk[i : i+1 : i+1]
			} else {
				*entries = append((*entries)[:len(*entries):len(*entries)], *e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// presize makes room in the group of routes without hosts, in most
// configurations the largest by far, for the exact and prefix patterns of
// entries, sparing Build the rehashes of growing maps.
func (t *Table) presize(ed *edit, chunks [][]entry) {
	var exact, prefixes int
	for _, chunk := range chunks {
		for i := range chunk {
			e := &chunk[i]
			if e.hosts[0].kind != hostAny {
				continue
			}
			for j := range e.paths {
				switch e.paths[j].kind {
				case pathExact:
					exact++
				case pathPrefix:
					prefixes++
				}
			}
		}
	}
	if exact+prefixes > 0 {
		g := t.ownGroup(ed, hostPattern{kind: hostAny})
		if exact > 0 {
			g.exact.resize(ed, exact)
		}
		if prefixes > 0 {
			g.prefixes.resize(ed, prefixes)
		}
	}
}

// insert adds e, the patterns of one route, to t, which belongs to ed, and
// returns errs with a *ConflictError for every request another route
// already matches.
func (t *Table) insert(ed *edit, e *entry, errs []error) []error {
	for _, h := range e.hosts {
		g := t.ownGroup(ed, h)
		for _, p := range e.paths {
			l := g.ownLeaf(ed, p)
			tgt := target{route: e.route, names: p.names}
			conflict := func(other int, method string) {
				errs = append(errs, &ConflictError{Route: e.route, Other: other, Host: h.String(), Path: p.raw, Method: method})
			}
			if len(e.methods) == 0 {
				switch {
				case l.any.route < 0:
					l.any = tgt
				case l.any.route != e.route:
					conflict(l.any.route, "")
				}
				continue
			}
			for _, m := range e.methods {
				if prev := l.forMethod(m); prev == nil {
					l.byMethod = append(l.byMethod, methodTarget{method: m, target: tgt})
				} else if prev.route != e.route {
					conflict(prev.route, m)
				}
			}
		}
	}
	return errs
}

func (l *leaf) forMethod(m string) *target {
	for i := range l.byMethod {
		if l.byMethod[i].method == m {
			return &l.byMethod[i].target
		}
	}
	return nil
}
