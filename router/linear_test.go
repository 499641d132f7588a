package router

// linearTable is the reference router: it scans every (route, host, path)
// pattern, keeps the matches and picks the most specific by the rules of the
// package doc, written as directly as possible. The fuzz tests check Table
// against it, and the benchmarks use it as the naive baseline. It shares only
// the pattern parsers with Table.
type linearTable struct {
	entries []linearEntry
}

type linearEntry struct {
	route   int
	host    hostPattern
	path    pathPattern
	methods []string // nil: any
}

// specificity orders matches; the larger wins, field by field.
type specificity struct {
	hostKind  hostKind
	hostLen   int
	pathKind  pathKind
	lits      int    // parameter patterns: literal segments
	litMask   uint64 // parameter patterns: literal segments as bits, first segment highest
	prefixLen int    // prefix patterns
	listed    bool   // the route lists the method
}

func (a specificity) beats(b specificity) bool {
	switch {
	case a.hostKind != b.hostKind:
		return a.hostKind > b.hostKind
	case a.hostLen != b.hostLen:
		return a.hostLen > b.hostLen
	case a.pathKind != b.pathKind:
		return a.pathKind > b.pathKind
	case a.lits != b.lits:
		return a.lits > b.lits
	case a.litMask != b.litMask:
		return a.litMask > b.litMask
	case a.prefixLen != b.prefixLen:
		return a.prefixLen > b.prefixLen
	}
	return a.listed && !b.listed
}

func (lt *linearTable) add(m Match, route int) error {
	var hosts []hostPattern
	var paths []pathPattern
	for _, h := range m.Hosts {
		hp, err := parseHost(h)
		if err != nil {
			return err
		}
		hosts = append(hosts, hp)
	}
	for _, p := range m.Paths {
		pp, err := parsePath(p)
		if err != nil {
			return err
		}
		paths = append(paths, pp)
	}
	for _, meth := range m.Methods {
		if err := CheckMethod(meth); err != nil {
			return err
		}
	}
	if len(hosts) == 0 {
		hosts = []hostPattern{{kind: hostAny}}
	}
	if len(paths) == 0 {
		all, _ := parsePath("/*")
		paths = []pathPattern{all}
	}
	for _, h := range hosts {
		for _, p := range paths {
			lt.entries = append(lt.entries, linearEntry{route: route, host: h, path: p, methods: m.Methods})
		}
	}
	return nil
}

// conflict reports whether two routes share a host pattern, a path pattern
// up to parameter names, and a method (or both have none).
func (lt *linearTable) conflict() bool {
	for i, a := range lt.entries {
		for _, b := range lt.entries[:i] {
			if a.route == b.route || a.host != b.host || a.path.kind != b.path.kind || a.path.key != b.path.key {
				continue
			}
			if (a.methods == nil) != (b.methods == nil) {
				continue
			}
			if a.methods == nil {
				return true
			}
			for _, ma := range a.methods {
				for _, mb := range b.methods {
					if ma == mb {
						return true
					}
				}
			}
		}
	}
	return false
}

func (lt *linearTable) lookup(host, path, method []byte, params *Params) (route, prefixLen int, ok bool) {
	if params != nil {
		params.n = 0
	}
	h := linearHost(host)
	var best *linearEntry
	var bestSpec specificity
	for i := range lt.entries {
		e := &lt.entries[i]
		spec, ok := e.match(h, path, method)
		if ok && (best == nil || spec.beats(bestSpec)) {
			best, bestSpec = e, spec
		}
	}
	if best == nil {
		return -1, 0, false
	}
	if best.path.kind == pathParam && params != nil {
		n := 0
		for i, off := 0, 0; off < len(path); i++ {
			start, end := off+1, nextSlash(path, off+1)
			off = end
			if best.path.segs[i].param {
				params.list[n] = Param{Name: best.path.names[n], Val: [2]uint32{uint32(start), uint32(end - start)}}
				n++
			}
		}
		params.n = n
	}
	return best.route, bestSpec.prefixLen, true
}

// linearHost strips the port and a trailing dot; case is handled when
// comparing.
func linearHost(host []byte) []byte {
	end := len(host)
	for i, c := range host {
		if c == ']' && host[0] == '[' {
			end = i + 1
			break
		}
		if c == ':' && host[0] != '[' {
			end = i
			break
		}
	}
	host = host[:end]
	if len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	return host
}

func (e *linearEntry) match(host, path, method []byte) (specificity, bool) {
	var s specificity
	s.hostKind = e.host.kind
	switch e.host.kind {
	case hostExact:
		if len(host) > maxHostLen || !asciiLowerEqual(host, e.host.key) {
			return s, false
		}
	case hostWild:
		k := e.host.key
		if len(host) > maxHostLen || len(host) <= len(k) || !asciiLowerEqual(host[len(host)-len(k):], k) {
			return s, false
		}
		s.hostLen = len(k)
	}
	s.pathKind = e.path.kind
	switch e.path.kind {
	case pathExact:
		if string(path) != e.path.key {
			return s, false
		}
	case pathPrefix:
		k := e.path.key
		if !(string(path) == k || len(path) > len(k) && string(path[:len(k)]) == k && path[len(k)] == '/') {
			return s, false
		}
		s.prefixLen = len(k)
	case pathParam:
		if len(path) == 0 || path[0] != '/' {
			return s, false
		}
		i, off := 0, 0
		for ; off < len(path); i++ {
			start, end := off+1, nextSlash(path, off+1)
			off = end
			if i == len(e.path.segs) {
				return s, false
			}
			v, p := path[start:end], e.path.segs[i]
			if p.param && len(v) == 0 || !p.param && string(v) != p.lit {
				return s, false
			}
			s.litMask <<= 1
			if !p.param {
				s.lits++
				s.litMask |= 1
			}
		}
		if i != len(e.path.segs) {
			return s, false
		}
	}
	if e.methods == nil {
		return s, true
	}
	for _, m := range e.methods {
		if m == string(method) {
			s.listed = true
			return s, true
		}
	}
	return s, false
}

// nextSlash returns the offset of the first "/" in path from off, or
// len(path).
func nextSlash(path []byte, off int) int {
	for off < len(path) && path[off] != '/' {
		off++
	}
	return off
}

func asciiLowerEqual(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
