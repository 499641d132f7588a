package config

import (
	"sync/atomic"

	"github.com/sluice-gw/sluice/cow"
)

// Rev identifies one validated version of a part of a configuration. An
// edit (edit.go) gives the parts it changed new revisions and keeps those
// of the parts it did not touch, so that the engine recompiles only what
// changed: a route whose Rev is the one it compiled last time keeps its
// compiled form. Zero means unknown: nothing may be reused.
type Rev uint64

var lastRev atomic.Uint64

func newRev() Rev { return Rev(lastRev.Add(1)) }

// revisions are a Config's revisions, beside its values so that two
// configurations with the same values still compare equal
// (reflect.DeepEqual) however they were made.
type revisions struct {
	// shared covers everything that is neither a route nor an upstream:
	// the global policies, the consumers, the shared dicts, the client
	// limits, Redis... A change there recompiles every route.
	shared    Rev
	routes    cow.List[Rev] // parallel to Config.Routes, shared between versions as it is
	upstreams []Rev         // parallel to Config.Upstreams
	// names finds routes by name (routenames.go); it was attached for
	// the route list namesOf, and a Config whose Routes is another list
	// (replaced by hand) walks its routes instead.
	names   *routeNames
	namesOf RouteList
}

// stamp gives every part of c a new revision: c was validated as a whole,
// so nothing in it is known to be unchanged.
func (c *Config) stamp() {
	r := &revisions{shared: newRev(), upstreams: make([]Rev, len(c.Upstreams))}
	routes := cow.Make[Rev](c.Routes.Len())
	for i := range routes.Len() {
		routes.Set(i, newRev())
	}
	r.routes = routes.List()
	for i := range r.upstreams {
		r.upstreams[i] = newRev()
	}
	r.names, r.namesOf = &routeNames{}, c.Routes
	c.revs = r
}

// SharedRev is the revision of everything that is neither a route nor an
// upstream; 0 for a Config never validated.
func (c *Config) SharedRev() Rev {
	if c.revs == nil {
		return 0
	}
	return c.revs.shared
}

// RouteRev is the revision of c.Routes.At(i); 0 when unknown.
func (c *Config) RouteRev(i int) Rev {
	if c.revs == nil || i < 0 || i >= c.revs.routes.Len() {
		return 0
	}
	return c.revs.routes.At(i)
}

// RouteRevs is the revision of every route, parallel to c.Routes; ok is
// false when they are unknown. Versions an edit apart share the chunks of
// revisions it did not change, so that cow.Changed finds what an edit
// changed without reading every revision.
func (c *Config) RouteRevs() (revs cow.List[Rev], ok bool) {
	if c.revs == nil || c.revs.routes.Len() != c.Routes.Len() {
		return cow.List[Rev]{}, false
	}
	return c.revs.routes, true
}

// UpstreamRev is the revision of c.Upstreams[i]; 0 when unknown.
func (c *Config) UpstreamRev(i int) Rev {
	if c.revs == nil || i < 0 || i >= len(c.revs.upstreams) {
		return 0
	}
	return c.revs.upstreams[i]
}
