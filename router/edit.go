package router

// edit is one Build or one Update: the identity its table's new parts carry
// as owner. An edit changes the parts it owns in place and copies any other
// part before changing it, so that the parts of a finished table, which all
// belong to finished edits, are never written again; this is what lets
// Lookup read a Table while Update derives another from it, and two Updates
// start from the same Table, without locks. Once its Build or Update has
// returned, nothing writes as that edit again: the parts keep it only to
// tell themselves from the parts of the next edit.
//
// An edit also allocates the leaves and nodes it makes from slabs, which
// spares Build an allocation for each of them.
type edit struct {
	leaves []leaf
	nodes  []node
}

// slabSize bounds the slabs of an edit; they start small, for an Update.
const slabSize = 256

func (ed *edit) newLeaf() *leaf { return fromSlab(&ed.leaves, leaf{owner: ed, any: target{route: -1}}) }

func (ed *edit) newNode() *node { return fromSlab(&ed.nodes, node{owner: ed}) }

// fromSlab appends v to *slab, after starting a new slab if it is full,
// and returns its address.
func fromSlab[T any](slab *[]T, v T) *T {
	if len(*slab) == cap(*slab) {
		*slab = make([]T, 0, min(slabSize, 2*cap(*slab)+2))
	}
	*slab = append(*slab, v)
	return &(*slab)[len(*slab)-1]
}

// groupOf returns the group of h, nil if none.
func (t *Table) groupOf(h hostPattern) *group {
	switch h.kind {
	case hostAny:
		return t.anyHost
	case hostWild:
		return t.wildHosts.get(h.key)
	}
	return t.exactHosts.get(h.key)
}

// ownGroup returns the group of h for ed to change, creating it or copying
// it into t, which belongs to ed.
func (t *Table) ownGroup(ed *edit, h hostPattern) *group {
	var slot **group
	switch h.kind {
	case hostAny:
		slot = &t.anyHost
	case hostWild:
		slot = t.wildHosts.ref(ed, h.key)
		if *slot == nil {
			t.wildLens.add(len(h.key), 1)
			t.maxWild = t.wildLens.max()
		}
	default:
		slot = t.exactHosts.ref(ed, h.key)
	}
	if g := *slot; g == nil {
		*slot = &group{owner: ed}
	} else if g.owner != ed {
		c := *g
		c.owner = ed
		c.prefixLens = g.prefixLens.clone()
		c.paramLens = g.paramLens.clone()
		*slot = &c
	}
	return *slot
}

// dropGroup removes the group of h from t, which belongs to ed.
func (t *Table) dropGroup(ed *edit, h hostPattern) {
	switch h.kind {
	case hostAny:
		t.anyHost = nil
	case hostWild:
		t.wildHosts.delete(ed, h.key)
		t.wildLens.add(len(h.key), -1)
		t.maxWild = t.wildLens.max()
	default:
		t.exactHosts.delete(ed, h.key)
	}
}

func (g *group) empty() bool {
	return g.exact.n == 0 && g.prefixes.n == 0 && g.params == nil
}

// leafOf returns the leaf of p, nil if none.
func (g *group) leafOf(p pathPattern) *leaf {
	switch p.kind {
	case pathExact:
		return g.exact.get(p.key)
	case pathPrefix:
		return g.prefixes.get(p.key)
	}
	n := g.params
	for _, s := range p.segs {
		if n == nil {
			return nil
		}
		if s.param {
			n = n.param
		} else {
			n = n.next(stringBytes(s.lit))
		}
	}
	if n == nil {
		return nil
	}
	return n.leaf
}

// ownLeaf returns the leaf of p for ed to change, creating it, and the trie
// nodes on its way, or copying them into g, which belongs to ed.
func (g *group) ownLeaf(ed *edit, p pathPattern) *leaf {
	var slot **leaf
	switch p.kind {
	case pathExact:
		slot = g.exact.ref(ed, p.key)
	case pathPrefix:
		slot = g.prefixes.ref(ed, p.key)
	default:
		n := &g.params
		for _, s := range p.segs {
			ownNode(ed, n)
			if s.param {
				n = &(*n).param
			} else {
				n = (*n).childRef(ed, s.lit)
			}
		}
		ownNode(ed, n)
		slot = &(*n).leaf
	}
	switch l := *slot; {
	case l == nil:
		*slot = ed.newLeaf()
		g.count(p, 1)
	case l.owner != ed:
		c := ed.newLeaf()
		c.byMethod = append([]methodTarget(nil), l.byMethod...)
		c.any = l.any
		*slot = c
	}
	return *slot
}

// dropLeaf removes the leaf of p, and the trie nodes it leaves empty, from
// g, which belongs to ed like the leaf and the nodes on its way (ownLeaf).
func (g *group) dropLeaf(ed *edit, p pathPattern) {
	switch p.kind {
	case pathExact:
		g.exact.delete(ed, p.key)
	case pathPrefix:
		g.prefixes.delete(ed, p.key)
	default:
		g.params = g.params.dropLeaf(ed, p.segs)
	}
	g.count(p, -1)
}

// count adds delta to the count of p's leaves behind the group's bounds.
func (g *group) count(p pathPattern, delta int) {
	switch p.kind {
	case pathPrefix:
		g.prefixLens.add(len(p.key), delta)
		g.maxPrefix = g.prefixLens.max()
	case pathParam:
		g.paramLens.add(len(p.segs), delta)
		g.segCounts = g.paramLens.segBits()
	}
}

// ownNode makes *slot a node ed may change: a new node if it is nil, a
// copy if another edit owns it. It writes *slot only then, sparing Build
// the write barriers of rewriting every pointer on a pattern's way.
func ownNode(ed *edit, slot **node) {
	switch n := *slot; {
	case n == nil:
		*slot = ed.newNode()
	case n.owner != ed:
		c := ed.newNode()
		*c = *n
		c.owner = ed
		*slot = c
	}
}

// dropLeaf removes the leaf at the end of segs under n, which belongs to ed
// with the nodes on the way, and the nodes that it leaves empty; it
// returns n, or nil if n is left empty.
func (n *node) dropLeaf(ed *edit, segs []segment) *node {
	switch {
	case len(segs) == 0:
		n.leaf = nil
	case segs[0].param:
		n.param = n.param.dropLeaf(ed, segs[1:])
	default:
		lit := segs[0].lit
		if n.next(stringBytes(lit)).dropLeaf(ed, segs[1:]) == nil {
			if n.child != nil {
				n.lit, n.child = "", nil
			} else {
				n.children.delete(ed, lit)
			}
		}
	}
	if n.leaf == nil && n.param == nil && n.child == nil && n.children.n == 0 {
		return nil
	}
	return n
}

// childRef returns the address of the child of literal segment lit for ed
// to write, making room for it if n, which belongs to ed, has none. The
// address is good until the next write to n.
func (n *node) childRef(ed *edit, lit string) **node {
	if n.children.n == 0 {
		switch {
		case n.child == nil:
			n.lit = lit
			return &n.child
		case n.lit == lit:
			return &n.child
		}
		// A second child: both go to the map.
		*n.children.ref(ed, n.lit) = n.child
		n.lit, n.child = "", nil
	}
	return n.children.ref(ed, lit)
}

// holds reports whether route is one of l's targets.
func (l *leaf) holds(route int) bool {
	if l.any.route == route {
		return true
	}
	for i := range l.byMethod {
		if l.byMethod[i].route == route {
			return true
		}
	}
	return false
}

// drop removes route's targets from l, which must belong to the caller's
// edit, and reports whether l is left empty.
func (l *leaf) drop(route int) bool {
	if l.any.route == route {
		l.any = target{route: -1}
	}
	kept := l.byMethod[:0]
	for _, mt := range l.byMethod {
		if mt.route != route {
			kept = append(kept, mt)
		}
	}
	clear(l.byMethod[len(kept):])
	l.byMethod = kept
	return l.any.route < 0 && len(kept) == 0
}
