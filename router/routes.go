package router

// routeIndex keeps every route's parsed patterns by route index, which is
// what Update needs to take a route out of the table. It is a radix tree
// of routeFanout-way nodes, persistent like the rest of a Table: an Update
// copies the few nodes on one route's way (three at 10,000 routes) and
// shares the others, and route indexes need not be dense. The zero
// routeIndex is empty.
type routeIndex struct {
	root   *routeNode
	height int // levels of inner nodes above the bottom one
}

// routeNode is an inner node (kids) or a bottom node (entries), each
// routeFanout long.
type routeNode struct {
	owner   *edit
	kids    []*routeNode
	entries [][]entry // a route's entries, one per Builder.Add
}

const (
	routeBits   = 5
	routeFanout = 1 << routeBits
)

// fits reports whether the tree is tall enough for route.
func (x *routeIndex) fits(route int) bool {
	return x.root != nil && uint64(route)>>(routeBits*(x.height+1)) == 0
}

// get returns the entries of route, nil if it has none.
func (x *routeIndex) get(route int) []entry {
	if !x.fits(route) {
		return nil
	}
	n := x.root
	for level := x.height; level > 0; level-- {
		if n = n.kids[route>>(routeBits*level)&(routeFanout-1)]; n == nil {
			return nil
		}
	}
	return n.entries[route&(routeFanout-1)]
}

// set makes entries the entries of route, for ed.
func (x *routeIndex) set(ed *edit, route int, entries []entry) { *x.ref(ed, route) = entries }

// ref returns the address of route's entries for ed to write. It is good
// until the next write to x.
func (x *routeIndex) ref(ed *edit, route int) *[]entry {
	for !x.fits(route) {
		if x.root == nil {
			x.root = newRouteNode(ed, true)
			continue
		}
		root := newRouteNode(ed, false)
		root.kids[0] = x.root
		x.root, x.height = root, x.height+1
	}
	ownRouteNode(ed, &x.root)
	n := x.root
	for level := x.height; level > 0; level-- {
		kid := &n.kids[route>>(routeBits*level)&(routeFanout-1)]
		if *kid == nil {
			*kid = newRouteNode(ed, level == 1)
		} else {
			ownRouteNode(ed, kid)
		}
		n = *kid
	}
	return &n.entries[route&(routeFanout-1)]
}

func newRouteNode(ed *edit, bottom bool) *routeNode {
	if bottom {
		return &routeNode{owner: ed, entries: make([][]entry, routeFanout)}
	}
	return &routeNode{owner: ed, kids: make([]*routeNode, routeFanout)}
}

// ownRouteNode makes *slot a node ed may change, copying it if another
// edit owns it.
func ownRouteNode(ed *edit, slot **routeNode) {
	n := *slot
	if n.owner == ed {
		return
	}
	c := &routeNode{owner: ed}
	if n.kids != nil {
		c.kids = append([]*routeNode(nil), n.kids...)
	} else {
		c.entries = append([][]entry(nil), n.entries...)
	}
	*slot = c
}
