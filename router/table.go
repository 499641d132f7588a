package router

// Table is a compiled route table. It is immutable once built and safe for
// concurrent use by any number of goroutines: the engine swaps whole Tables
// with a new configuration snapshot and never changes one. Update derives a
// new Table from one, sharing what it does not change. The zero Table
// matches nothing.
type Table struct {
	exactHosts strMap[*group] // by lower-cased host
	wildHosts  strMap[*group] // by suffix with its dot, ".example.com"
	maxWild    int            // longest key of wildHosts
	anyHost    *group         // nil when every route names hosts
	wildLens   lenCounts      // lengths of the keys of wildHosts
	routes     routeIndex     // each route's patterns, for Update
}

// group is the routes of one host pattern. It is never empty: the last
// route of a host pattern takes its group away.
type group struct {
	owner      *edit
	exact      strMap[*leaf] // by path
	prefixes   strMap[*leaf] // by prefix without "/*"; "" is "/*"
	maxPrefix  int           // longest key of prefixes
	params     *node         // trie of parameter patterns, nil if none
	segCounts  uint64        // segBit of every parameter pattern's length
	prefixLens lenCounts     // lengths of the keys of prefixes
	paramLens  lenCounts     // segment counts of the leaves under params
}

// node is a trie node of parameter patterns, one level per segment. A node
// with neither children nor a leaf is removed.
type node struct {
	owner *edit
	// The children of literal segments: most nodes have one, which lit and
	// child hold without a map; children holds them otherwise (and may
	// hold one after removals). child is nil when children is not empty.
	lit      string
	child    *node
	children strMap[*node]
	param    *node // a {name} segment
	leaf     *leaf // set when a pattern ends here
}

// next returns the child of literal segment lit, nil if none.
func (n *node) next(lit []byte) *node {
	if n.child != nil {
		if n.lit == string(lit) {
			return n.child
		}
		return nil
	}
	return n.children.lookup(lit)
}

// leaf holds the routes of one pattern (up to parameter names), by method.
// A leaf without routes is removed.
type leaf struct {
	owner    *edit
	byMethod []methodTarget // routes that list methods, each method once
	any      target         // the route with no method list; route -1 if none
}

type methodTarget struct {
	method string
	target
}

// target is a route and the parameter names of the pattern it was added
// with (patterns that differ only in names share a leaf).
type target struct {
	route int
	names []string
}

// match returns the target for method: one listing it, else the any-method
// one.
func (l *leaf) match(method []byte) *target {
	for i := range l.byMethod {
		if l.byMethod[i].method == string(method) {
			return &l.byMethod[i].target
		}
	}
	if l.any.route >= 0 {
		return &l.any
	}
	return nil
}

// Lookup finds the most specific route for a request (see the package doc):
// host is the Host header or authority, with or without a port, in any case;
// path is the request path without the query; method is the request method.
// It returns the route index given to Builder.Add and, when the path matched
// a prefix pattern "/x/*", the length of the matched prefix ("/x"), which a
// route with strip_prefix cuts off; prefixLen is 0 for other patterns.
// ok is false when no route matches.
//
// params, when not nil, is reset and receives the path parameters as offsets
// into path. Lookup does not allocate, does not keep host, path or method,
// and is safe for concurrent use.
func (t *Table) Lookup(host, path, method []byte, params *Params) (route int, prefixLen int, ok bool) {
	if params != nil {
		params.n = 0
	}
	if uint64(len(path)) > 1<<32-1 {
		return -1, 0, false
	}
	var buf [maxHostLen]byte
	if h := normalizeHost(host, &buf); len(h) > 0 {
		if t.exactHosts.n > 0 {
			if g := t.exactHosts.lookup(h); g != nil {
				if route, prefixLen, ok = g.lookup(path, method, params); ok {
					return route, prefixLen, ok
				}
			}
		}
		if t.wildHosts.n > 0 {
			// The leftmost dot gives the longest suffix, the most specific.
			for i := 1; i < len(h); i++ {
				if h[i] != '.' || len(h)-i > t.maxWild {
					continue
				}
				if g := t.wildHosts.lookup(h[i:]); g != nil {
					if route, prefixLen, ok = g.lookup(path, method, params); ok {
						return route, prefixLen, ok
					}
				}
			}
		}
	}
	if t.anyHost != nil {
		return t.anyHost.lookup(path, method, params)
	}
	return -1, 0, false
}

// normalizeHost writes host into buf without its port and trailing dot and
// in lower case, and returns it; it returns nil for a host too long to match
// a host pattern.
func normalizeHost(host []byte, buf *[maxHostLen]byte) []byte {
	end := len(host)
	if end > 0 && host[0] == '[' {
		for i, c := range host {
			if c == ']' {
				end = i + 1
				break
			}
		}
	} else {
		for i, c := range host {
			if c == ':' {
				end = i
				break
			}
		}
	}
	if end > 0 && host[end-1] == '.' {
		end--
	}
	if end > maxHostLen {
		return nil
	}
	for i, c := range host[:end] {
		buf[i] = toLower[c]
	}
	return buf[:end]
}

// lookup matches path and method within one host group: exact, then
// parameters, then the longest prefix.
func (g *group) lookup(path, method []byte, params *Params) (int, int, bool) {
	if g.exact.n > 0 {
		if l := g.exact.lookup(path); l != nil {
			if tgt := l.match(method); tgt != nil {
				return tgt.route, 0, true
			}
		}
	}
	if g.params != nil && len(path) > 0 && path[0] == '/' {
		segs := 0
		for _, c := range path {
			if c == '/' {
				segs++
			}
		}
		if g.segCounts&segBit(segs) != 0 {
			s := paramSearch{path: path, method: method, segs: segs, bestLits: -1}
			s.walk(g.params, 0, 0, 0, 0)
			if s.best != nil {
				if params != nil {
					params.n = len(s.best.names)
					for i, name := range s.best.names {
						params.list[i] = Param{Name: name, Val: s.bestVals[i]}
					}
				}
				return s.best.route, 0, true
			}
		}
	}
	if g.prefixes.n > 0 {
		for i := min(len(path), g.maxPrefix); i >= 0; i-- {
			if i < len(path) && path[i] != '/' {
				continue
			}
			if l := g.prefixes.lookup(path[:i]); l != nil {
				if tgt := l.match(method); tgt != nil {
					return tgt.route, i, true
				}
			}
		}
	}
	return -1, 0, false
}

// paramSearch finds the parameter pattern with the most literal segments
// that matches a path, depth first, literal children before the parameter
// child: among patterns with as many literals, the first found has its
// first literal earliest, which is the tie-break the package doc promises.
type paramSearch struct {
	path     []byte
	method   []byte
	segs     int // segments in path
	best     *target
	bestLits int
	bestVals [MaxParams][2]uint32
	cur      [MaxParams][2]uint32
}

// walk visits n, reached after depth segments of which lits were literal
// and params were parameters; off is the offset in path of the "/" that
// starts the next segment, or len(path).
func (s *paramSearch) walk(n *node, off, depth, lits, params int) {
	if off == len(s.path) {
		if n.leaf != nil && lits > s.bestLits {
			if tgt := n.leaf.match(s.method); tgt != nil {
				s.best, s.bestLits, s.bestVals = tgt, lits, s.cur
			}
		}
		return
	}
	// Even if every remaining segment matched a literal, this branch could
	// not beat the best so far.
	if lits+s.segs-depth <= s.bestLits {
		return
	}
	start := off + 1
	end := start
	for end < len(s.path) && s.path[end] != '/' {
		end++
	}
	if c := n.next(s.path[start:end]); c != nil {
		s.walk(c, end, depth+1, lits+1, params)
	}
	if n.param != nil && end > start && params < MaxParams {
		s.cur[params] = [2]uint32{uint32(start), uint32(end - start)}
		s.walk(n.param, end, depth+1, lits, params+1)
	}
}

// segBit is the bit of a segment count in group.segCounts; counts of 63
// and more share the last bit.
func segBit(n int) uint64 { return 1 << min(n, 63) }
