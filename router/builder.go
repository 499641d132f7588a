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
	entries []entry
}

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
	if route < 0 {
		return ErrBadRoute
	}
	e := entry{route: route}
	var errs []error
	bad := func(field string, i int, p string, err error) {
		errs = append(errs, &PatternError{Route: route, Field: field, Index: i, Pattern: p, Err: err})
	}
	for i, h := range m.Hosts {
		hp, err := parseHost(h)
		if err != nil {
			bad("hosts", i, h, err)
			continue
		}
		e.hosts = append(e.hosts, hp)
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
			continue
		}
		e.methods = append(e.methods, meth)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(e.hosts) == 0 {
		e.hosts = []hostPattern{{kind: hostAny}}
	}
	if len(e.paths) == 0 {
		all, _ := parsePath("/*")
		e.paths = []pathPattern{all}
	}
	b.entries = append(b.entries, e)
	return nil
}

// Build compiles the routes added so far into a Table. Routes that match
// exactly the same requests (see the package doc) are refused: the error
// joins a *ConflictError for each such pair, in the order they were added.
func (b *Builder) Build() (*Table, error) {
	t := &Table{exactHosts: make(map[string]*group), wildHosts: make(map[string]*group)}
	var errs []error
	for _, e := range b.entries {
		for _, h := range e.hosts {
			g := t.groupFor(h)
			for _, p := range e.paths {
				l := g.leafFor(p)
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
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

func (t *Table) groupFor(h hostPattern) *group {
	var g *group
	switch h.kind {
	case hostAny:
		if t.anyHost == nil {
			t.anyHost = newGroup()
		}
		return t.anyHost
	case hostWild:
		if g = t.wildHosts[h.key]; g == nil {
			g = newGroup()
			t.wildHosts[h.key] = g
			t.maxWild = max(t.maxWild, len(h.key))
		}
	default:
		if g = t.exactHosts[h.key]; g == nil {
			g = newGroup()
			t.exactHosts[h.key] = g
		}
	}
	return g
}

func newGroup() *group {
	return &group{exact: make(map[string]*leaf), prefixes: make(map[string]*leaf)}
}

func newLeaf() *leaf { return &leaf{any: target{route: -1}} }

// leafFor returns the leaf of pattern p, creating it and the trie path to it.
func (g *group) leafFor(p pathPattern) *leaf {
	switch p.kind {
	case pathExact:
		l := g.exact[p.key]
		if l == nil {
			l = newLeaf()
			g.exact[p.key] = l
		}
		return l
	case pathPrefix:
		l := g.prefixes[p.key]
		if l == nil {
			l = newLeaf()
			g.prefixes[p.key] = l
			g.maxPrefix = max(g.maxPrefix, len(p.key))
		}
		return l
	}
	if g.params == nil {
		g.params = &node{}
	}
	n := g.params
	for _, s := range p.segs {
		if s.param {
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			continue
		}
		c := n.children[s.lit]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			c = &node{}
			n.children[s.lit] = c
		}
		n = c
	}
	g.segCounts |= segBit(len(p.segs))
	if n.leaf == nil {
		n.leaf = newLeaf()
	}
	return n.leaf
}

// segBit is the bit of a segment count in group.segCounts; counts of 63
// and more share the last bit.
func segBit(n int) uint64 { return 1 << min(n, 63) }

func (l *leaf) forMethod(m string) *target {
	for i := range l.byMethod {
		if l.byMethod[i].method == m {
			return &l.byMethod[i].target
		}
	}
	return nil
}
