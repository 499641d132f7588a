package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-gw/sluice/cow"
)

// Edits change one resource of a validated Config: they are what the Admin
// API runs. None changes c: each returns a new Config that shares with c
// what it did not touch, validated like Parse validates a file (the same
// checks, errors at the same paths) but only for what the edit touched, so
// that replacing one route of ten thousand costs microseconds. The one check
// a route edit leaves out is the overlap of its match with the other
// routes': the engine's router finds it while applying the edit, and
// reports it with ConflictMessage at the same path.
//
// A resource is given as one YAML or JSON document (JSON is YAML), decoded
// as strictly as a file and as if it stood at its place in the
// configuration: an error reads "file:line: routes[12].policies[0].config.
// count: must be > 0", where file names the document (the caller's word for
// it, such as "PUT /routes/api") and line is the line in it.
//
// Edited configs carry no file positions of the whole: errors found later
// name paths without lines. The edits are safe for concurrent use on the
// same c, which they only read; callers serialize edits that must see each
// other.

// ErrNotFound: the edit names a resource the configuration does not have.
var ErrNotFound = errors.New("config: no such resource")

// RouteIndex returns the position of the route called name, or -1.
// A linear scan: 10,000 names compare in microseconds, less than keeping an
// index up to date on every edit would cost.
func (c *Config) RouteIndex(name string) int {
	return c.routeIndex(name)
}

// UpstreamIndex returns the position of the upstream called name, or -1.
func (c *Config) UpstreamIndex(name string) int {
	for i := range c.Upstreams {
		if c.Upstreams[i].Name == name {
			return i
		}
	}
	return -1
}

// ConsumerIndex returns the position of the consumer called name, or -1.
func (c *Config) ConsumerIndex(name string) int {
	for i := range c.Consumers {
		if c.Consumers[i].Name == name {
			return i
		}
	}
	return -1
}

// PutRoute returns c with the route called name replaced by the one doc
// describes, or added after the others when c has none by that name. The
// document's name field may be left out; when given it must be name.
// It also returns the route's position.
func (c *Config) PutRoute(name string, doc []byte, file string) (*Config, int, error) {
	i := c.RouteIndex(name)
	if i < 0 {
		i = c.Routes.Len()
	}
	p := "routes[" + strconv.Itoa(i) + "]"
	var r Route
	src, errs := decodeFragment(doc, file, p, &r)
	if errs.errs != nil || src == nil {
		return nil, i, errs.err()
	}
	v := validator{src: src, errs: &errs}
	v.resourceName(p, &r.Name, name)
	v.route(&r, p, func(u string) bool { return c.UpstreamIndex(u) >= 0 })
	v.anonymousRefs(p+".policies", r.Policies, c.consumerNames())
	if err := errs.err(); err != nil {
		return nil, i, err
	}
	next := c.derive()
	next.Routes, next.revs.routes = putRoute(c.Routes, c.revsOrZero().routes, i, &r)
	if i == c.Routes.Len() && !next.revs.names.added(r.Name, i) {
		next.revs.names = &routeNames{}
	}
	next.revs.namesOf = next.Routes // the same names at the same places, or one more
	return next, i, nil
}

// DeleteRoute returns c without the route called name, and its former
// position; ErrNotFound when there is none.
func (c *Config) DeleteRoute(name string) (*Config, int, error) {
	i := c.RouteIndex(name)
	if i < 0 {
		return nil, -1, fmt.Errorf("%w: route %q", ErrNotFound, name)
	}
	next := c.derive()
	next.Routes, next.revs.routes = deleteRoute(c.Routes, c.revsOrZero().routes, i)
	next.revs.names, next.revs.namesOf = &routeNames{}, next.Routes // the routes after i moved
	return next, i, nil
}

// PutUpstream returns c with the upstream called name replaced by the one
// doc describes, or added after the others. The routes are untouched: a
// route keeps proxying to the upstream of that name.
func (c *Config) PutUpstream(name string, doc []byte, file string) (*Config, int, error) {
	i := c.UpstreamIndex(name)
	if i < 0 {
		i = len(c.Upstreams)
	}
	p := "upstreams[" + strconv.Itoa(i) + "]"
	var u Upstream
	src, errs := decodeFragment(doc, file, p, &u)
	if errs.errs != nil || src == nil {
		return nil, i, errs.err()
	}
	v := validator{src: src, errs: &errs}
	v.resourceName(p, &u.Name, name)
	v.upstream(&u, p, i, map[string]int{})
	v.discovery(u.Discovery, p, c)
	if err := errs.err(); err != nil {
		return nil, i, err
	}
	next := c.derive()
	next.Upstreams, next.revs.upstreams = putAt(c.Upstreams, c.revsOrZero().upstreams, i, u)
	return next, i, nil
}

// DeleteUpstream returns c without the upstream called name. An upstream a
// route proxies to is not deleted: the error names the first such route.
func (c *Config) DeleteUpstream(name string) (*Config, int, error) {
	i := c.UpstreamIndex(name)
	if i < 0 {
		return nil, -1, fmt.Errorf("%w: upstream %q", ErrNotFound, name)
	}
	used := func(by string) (*Config, int, error) {
		return nil, i, Errors{{Path: "upstreams[" + strconv.Itoa(i) + "]",
			Msg: fmt.Sprintf("is used by %s: change or delete what uses it first", by)}}
	}
	for j, r := range c.Routes.All() {
		if r.Upstream == name {
			return used(fmt.Sprintf("routes[%d] (%q)", j, r.Name))
		}
		for k := range r.Policies {
			if namesUpstream(&r.Policies[k].Config, name, 0) {
				return used(fmt.Sprintf("routes[%d].policies[%d] (%s of route %q)", j, k, r.Policies[k].Name, r.Name))
			}
		}
	}
	for k := range c.GlobalPolicies {
		if namesUpstream(&c.GlobalPolicies[k].Config, name, 0) {
			return used(fmt.Sprintf("global_policies[%d] (%s)", k, c.GlobalPolicies[k].Name))
		}
	}
	next := c.derive()
	next.Upstreams, next.revs.upstreams = deleteAt(c.Upstreams, c.revsOrZero().upstreams, i)
	return next, i, nil
}

// namesUpstream reports whether a policy's config sends to the upstream
// name: a field "upstream" holding it, at any depth (aggregate's calls,
// traffic-split's targets, mirror, batch-requests).
func namesUpstream(n *yaml.Node, name string, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "upstream" && v.Kind == yaml.ScalarNode && v.Value == name || namesUpstream(v, name, depth+1) {
				return true
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if namesUpstream(c, name, depth+1) {
				return true
			}
		}
	}
	return false
}

// PutConsumer returns c with the consumer called name replaced by the one
// doc describes, or added. Consumers are checked together (credentials are
// unique across them, auth policies name anonymous consumers), so the
// whole configuration is validated again: at 10,000 routes that is tens of
// milliseconds, and every route is compiled again.
func (c *Config) PutConsumer(name string, doc []byte, file string) (*Config, int, error) {
	i := c.ConsumerIndex(name)
	if i < 0 {
		i = len(c.Consumers)
	}
	p := "consumers[" + strconv.Itoa(i) + "]"
	var cs Consumer
	src, errs := decodeFragment(doc, file, p, &cs)
	if errs.errs != nil || src == nil {
		return nil, i, errs.err()
	}
	v := validator{src: src, errs: &errs}
	v.resourceName(p, &cs.Name, name)
	if err := errs.err(); err != nil {
		return nil, i, err
	}
	next, err := c.Edit(func(n *Config) {
		if i == len(n.Consumers) {
			n.Consumers = append(n.Consumers, cs)
		} else {
			n.Consumers[i] = cs
		}
	})
	return next, i, err
}

// DeleteConsumer returns c without the consumer called name, validated
// again as a whole (an auth policy may name it as its anonymous consumer).
func (c *Config) DeleteConsumer(name string) (*Config, int, error) {
	i := c.ConsumerIndex(name)
	if i < 0 {
		return nil, -1, fmt.Errorf("%w: consumer %q", ErrNotFound, name)
	}
	next, err := c.Edit(func(n *Config) {
		n.Consumers = append(n.Consumers[:i:i], n.Consumers[i+1:]...)
	})
	return next, i, err
}

// PutGlobalPolicies returns c with its global policies replaced by the list
// doc describes, validated again as a whole: every route runs them.
func (c *Config) PutGlobalPolicies(doc []byte, file string) (*Config, error) {
	var specs []PolicySpec
	src, errs := decodeFragment(doc, file, "global_policies", &specs)
	if errs.errs != nil || src == nil {
		return nil, errs.err()
	}
	if specs == nil {
		specs = []PolicySpec{}
	}
	return c.Edit(func(n *Config) { n.GlobalPolicies = specs })
}

// Edit returns a deep copy of c changed by fn and validated as a whole, as
// a file is: for the edits that involve the whole configuration. Every
// part gets a new revision, so the engine compiles it all again.
func (c *Config) Edit(fn func(*Config)) (*Config, error) {
	next := c.Clone()
	fn(next)
	if err := next.Validate(); err != nil {
		return nil, err
	}
	return next, nil
}

// resourceName fills the name of a resource addressed by name (in a URL)
// or checks that the document's name agrees.
func (v *validator) resourceName(p string, field *string, name string) {
	switch *field {
	case "":
		*field = name
	case name:
	default:
		v.errf(p+".name", "is %q but the resource addressed is %q; leave the name out or make them agree", *field, name)
	}
}

// consumerNames is the set anonymousRefs checks names against.
func (c *Config) consumerNames() map[string]string {
	names := make(map[string]string, len(c.Consumers))
	for i := range c.Consumers {
		names[c.Consumers[i].Name] = ""
	}
	return names
}

// putAt returns copies of list, with v at i (appended when i is its
// length), and of its revisions, with a new one at i. Revisions that do
// not match the list (a config never validated) become 0: unknown.
func putAt[T any](list []T, revs []Rev, i int, v T) ([]T, []Rev) {
	out := append(make([]T, 0, len(list)+1), list...)
	outRevs := make([]Rev, len(list), len(list)+1)
	if len(revs) == len(list) {
		copy(outRevs, revs)
	}
	if i == len(out) {
		return append(out, v), append(outRevs, newRev())
	}
	out[i], outRevs[i] = v, newRev()
	return out, outRevs
}

// putRoute is putAt for the routes, whose versions share what an edit
// did not change (RouteList).
func putRoute(list RouteList, revs cow.List[Rev], i int, r *Route) (RouteList, cow.List[Rev]) {
	routes := cow.Edit(list.l)
	routes.Set(i, r)
	return RouteList{routes.List()}, editRevs(revs, list.Len(), func(e *cow.Editor[Rev]) { e.Set(i, newRev()) })
}

// deleteRoute returns list and its revisions without entry i.
func deleteRoute(list RouteList, revs cow.List[Rev], i int) (RouteList, cow.List[Rev]) {
	routes := cow.Edit(list.l)
	routes.Delete(i)
	return RouteList{routes.List()}, editRevs(revs, list.Len(), func(e *cow.Editor[Rev]) { e.Delete(i) })
}

// editRevs returns revs edited by edit, revs being those of a list of n
// routes. Revisions that do not match the list (a config never validated)
// are replaced first by new ones, which no compiled route has: like 0,
// unknown, they let nothing be reused, and unlike 0 they differ from the
// last version's, which is what cow.Changed looks for.
func editRevs(revs cow.List[Rev], n int, edit func(*cow.Editor[Rev])) cow.List[Rev] {
	var e *cow.Editor[Rev]
	if revs.Len() == n {
		e = cow.Edit(revs)
	} else {
		e = cow.Make[Rev](n)
		for i := range n {
			e.Set(i, newRev())
		}
	}
	edit(e)
	return e.List()
}

// deleteAt returns copies of list and of its revisions without entry i.
func deleteAt[T any](list []T, revs []Rev, i int) ([]T, []Rev) {
	out := append(append(make([]T, 0, len(list)-1), list[:i]...), list[i+1:]...)
	if len(revs) != len(list) {
		return out, make([]Rev, len(out))
	}
	return out, append(append(make([]Rev, 0, len(revs)-1), revs[:i]...), revs[i+1:]...)
}

// derive returns a shallow copy of c for an edit to change: the same
// values, no file positions, its own revisions record (the slices the edit
// replaces are copied by it).
func (c *Config) derive() *Config {
	next := *c
	next.src = nil
	r := c.revsOrZero()
	next.revs = &revisions{shared: r.shared, routes: r.routes, upstreams: r.upstreams, names: r.names, namesOf: r.namesOf}
	return &next
}

func (c *Config) revsOrZero() *revisions {
	if c.revs == nil {
		return &revisions{}
	}
	return c.revs
}

// Clone returns a copy of c that shares nothing Validate writes to, so the
// copy can be changed and validated while others read c.
func (c *Config) Clone() *Config {
	n := *c
	n.src, n.revs = nil, nil
	if c.SharedDicts != nil {
		n.SharedDicts = make(map[string]Size, len(c.SharedDicts))
		for k, v := range c.SharedDicts {
			n.SharedDicts[k] = v
		}
	}
	n.Upstreams = append([]Upstream(nil), c.Upstreams...)
	for i := range n.Upstreams {
		u := &n.Upstreams[i]
		u.Targets = append([]Target(nil), u.Targets...)
		if u.Discovery != nil {
			d := *u.Discovery
			u.Discovery = &d
		}
		if u.Health.Active != nil {
			a := *u.Health.Active
			u.Health.Active = &a
		}
	}
	routes := make([]*Route, c.Routes.Len())
	for i, r := range c.Routes.All() {
		cp := *r
		cp.Policies = append([]PolicySpec(nil), r.Policies...)
		routes[i] = &cp
	}
	n.Routes = Routes(routes...)
	n.GlobalPolicies = append([]PolicySpec(nil), c.GlobalPolicies...)
	n.Consumers = append([]Consumer(nil), c.Consumers...)
	for i := range n.Consumers {
		cs := &n.Consumers[i]
		cs.Policies = append([]PolicySpec(nil), cs.Policies...)
		cr := &cs.Credentials
		cr.KeyAuth = append([]KeyAuthCredential(nil), cr.KeyAuth...)
		cr.BasicAuth = append([]BasicAuthCredential(nil), cr.BasicAuth...)
		cr.JWT = append([]JWTCredential(nil), cr.JWT...)
		cr.HMAC = append([]HMACCredential(nil), cr.HMAC...)
	}
	if c.Redis != nil {
		r := *c.Redis
		n.Redis = &r
	}
	if c.AccessLog != nil {
		l := *c.AccessLog
		if l.Syslog != nil {
			s := *l.Syslog
			l.Syslog = &s
		}
		n.AccessLog = &l
	}
	if c.Consul != nil {
		cc := *c.Consul
		if cc.TLS != nil {
			t := *cc.TLS
			cc.TLS = &t
		}
		n.Consul = &cc
	}
	return &n
}

// decodeFragment decodes one YAML or JSON document into dst as if it stood
// at path in a configuration file named file. The source it returns locates
// the values for the validator; nil with no error for an empty document,
// which is an error of its own.
func decodeFragment(doc []byte, file, path string, dst any) (*source, errorList) {
	var errs errorList
	root, ok := jsonNodes(doc) // the usual body, without yaml.v3's parser
	if !ok {
		root = new(yaml.Node)
		dec := yaml.NewDecoder(bytes.NewReader(doc))
		if err := dec.Decode(root); err != nil {
			if errors.Is(err, io.EOF) {
				errs.add(&Error{File: file, Path: path, Msg: "is empty: the body must be a JSON object"})
			} else {
				errs.errs = syntaxError(file, err).(Errors)
			}
			return nil, errs
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			errs.add(&Error{File: file, Line: extra.Line, Msg: "a second document; send one", kind: ErrSyntax})
			return nil, errs
		}
	}
	src := newSource(file)
	d := decoder{src: src, errs: &errs}
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		d.decode(root.Content[0], reflect.ValueOf(dst).Elem(), path, 0)
	}
	return src, errs
}
