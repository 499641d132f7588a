package router

import "errors"

// Update returns a new Table in which route matches exactly m, as if the
// Table had been built with route's Adds replaced by one Add(*m, route):
// whatever route matched before is forgotten, and a route t does not have
// is added. m is read as Add reads it (an empty list matches anything) and
// not kept. A nil m removes route: it matches nothing in the new Table.
// Lookup on the new Table answers exactly as on a Table built by a Builder
// from the same routes.
//
// t does not change and stays fully usable: Update may run while other
// goroutines call t.Lookup, and several Updates may start from the same t
// at once, each returning its own Table; the caller publishes the one it
// keeps, as it would a built Table. The new Table copies only what the
// change touches (the route's host groups, leaves and trie nodes, and the
// pages of the maps that hold them) and shares the rest with t: an Update
// of a 10,000-route table takes tens of microseconds where a Build takes
// milliseconds.
//
// On error Update returns no Table. The errors are those of Add and Build:
// ErrBadRoute for a negative route, the *PatternError of every bad pattern
// of m joined, or a *ConflictError (Route being route, Other the route
// already there) for every request another route of t already matches,
// joined.
func (t *Table) Update(route int, m *Match) (*Table, error) {
	var entries []entry
	if m != nil {
		e, err := parseEntry(m, route)
		if err != nil {
			return nil, err
		}
		entries = []entry{e}
	} else if route < 0 {
		return nil, ErrBadRoute
	}
	ed := new(edit)
	next := *t
	next.wildLens = t.wildLens.clone()
	old := t.routes.get(route)
	for i := range old {
		next.remove(ed, &old[i])
	}
	var errs []error
	for i := range entries {
		errs = next.insert(ed, &entries[i], errs)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if old != nil || entries != nil {
		next.routes.set(ed, route, entries)
	}
	return &next, nil
}

// remove takes e's route out of the leaves of e's patterns in t, which
// belongs to ed, and removes the leaves, nodes and groups that it leaves
// empty. A pattern listed twice is simply found empty the second time.
func (t *Table) remove(ed *edit, e *entry) {
	for _, h := range e.hosts {
		g := t.groupOf(h)
		if g == nil {
			continue
		}
		for _, p := range e.paths {
			if l := g.leafOf(p); l == nil || !l.holds(e.route) {
				continue
			}
			g = t.ownGroup(ed, h)
			if g.ownLeaf(ed, p).drop(e.route) {
				g.dropLeaf(ed, p)
			}
		}
		if g.empty() {
			t.dropGroup(ed, h)
		}
	}
}
