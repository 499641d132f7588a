package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/cow"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/router"
	"github.com/sluice-gw/sluice/shm"
)

// Compiling a version costs what changed, not what exists. The config says
// what changed through revisions (config.Rev): an Admin API edit of one
// route gives that route a new revision and keeps every other part's. When
// the shared part (globals, consumers, dicts, client limits...) kept its
// revision, a route whose revision is the one compiled last time keeps its
// compiled form (chain, policies and their state) and its slot in the
// route table, and the table is updated in place of being rebuilt
// (router.Table.Update, copy-on-write). A file reload, or an edit of the
// shared part, validates the whole config: every revision is new and every
// route is compiled again, as before.
//
// Route table indexes are slots, not positions in the config: a route
// keeps its slot while its name lives, so deleting the first of 10,000
// routes moves nothing.

// maxTableUpdates is how many route changes are applied to the table one by
// one before rebuilding it whole is the cheaper way.
const maxTableUpdates = 256

// upstreamUnit is an upstream as the last version compiled it.
type upstreamUnit struct {
	rev config.Rev
	up  *Upstream
}

// routeUnit is a route as the last version compiled it.
type routeUnit struct {
	name  string
	rev   config.Rev
	route *Route
	slot  int
	match router.Match
	seen  uint64 // the compile that last saw it (Compiler.gen)
	kept  uint64 // the compile that last kept its policies (Compiler.gen)
}

// compilation is one call of Compile: what it builds before it commits.
type compilation struct {
	c           *Compiler
	cfg         *config.Config
	s           *Snapshot
	incremental bool // the shared part is the one compiled last time
	// upstreamsChanged: an upstream was made anew, so routes compiled
	// last time may point at one this version replaced.
	upstreamsChanged bool
	env              func(scope string, spec config.PolicySpec) *Env
	created          []*policySet // made by this compile: cleaned up if it fails
	// replaced: units of the last version whose route this one compiled
	// again or dropped; their sets are dropped unless kept (routeUnit.kept).
	replaced []*routeUnit
	units    *cow.Editor[*routeUnit] // by position in cfg.Routes
	slots    *cow.Editor[*Route]     // the version's routes by slot (Snapshot.routes)
	revs     cow.List[config.Rev]    // cfg.RouteRevs(), for the next version to compare with
	revsOK   bool                    // the revisions are known
	inPlace  bool                    // routes took replaceInPlace's way
	ups      map[string]*upstreamUnit
	freed    []int // slots of the routes this version drops
	freeUsed int   // free slots (from the end of Compiler.free) it took
	newSlots int   // slots it added after the last version's
	tableOps []tableOp
}

type tableOp struct {
	slot  int
	match *router.Match // nil: the slot matches nothing any more
}

// Compile builds a snapshot from a validated config and makes it the
// compiler's last version: Prepare and Commit. It fails with a precise
// error (the config path of the culprit) and changes nothing when the
// config cannot be served.
func (c *Compiler) Compile(cfg *config.Config) (*Snapshot, error) {
	p, err := c.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return p.Commit(), nil
}

// Pending is a compiled version not yet committed: nothing of the running
// state changed yet (targets of upstreams in use, health checks, the
// compiler's record of what it compiled). Exactly one of Commit and
// Discard must be called; until then the compiler is locked.
type Pending struct {
	k         *compilation
	newGroups map[string]*lbGroup
	created   []*lbGroup
	updates   []pendingUpdate
	newRedis  bool
	done      bool
}

// Prepare compiles cfg without changing anything that runs: for a change
// that still has to be stored elsewhere (a fleet's Consul) before it may
// be put in force. On error nothing is left to undo.
func (c *Compiler) Prepare(cfg *config.Config) (*Pending, error) {
	c.mu.Lock()
	p, err := c.prepare(cfg)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	return p, nil
}

func (c *Compiler) prepare(cfg *config.Config) (p *Pending, err error) {
	s := &Snapshot{
		Config:                 cfg,
		upstreams:              make(map[string]*Upstream, len(cfg.Upstreams)),
		clientHeaderTimeout:    int64(cfg.Client.HeaderTimeout),
		clientBodyTimeout:      int64(cfg.Client.BodyTimeout),
		clientKeepaliveTimeout: int64(cfg.Client.KeepaliveTimeout),
		clientSendTimeout:      int64(60 * time.Second),
		tunnelIdleTimeout:      int64(time.Hour),
		compiler:               c,
	}
	s.headLimits = http1.Limits{MaxHeadBytes: int(cfg.Client.MaxHeadBytes), MaxFields: cfg.Client.MaxFields}
	s.respLimits = http1.Limits{MaxHeadBytes: 64 << 10, MaxFields: 200, MaxFieldLine: 32 << 10}
	s.policyTimeout = int64(cfg.Client.PolicyTimeout)
	if s.policyTimeout <= 0 {
		s.policyTimeout = s.clientHeaderTimeout
	}
	freezeKeys()
	k := &compilation{c: c, cfg: cfg, s: s, ups: make(map[string]*upstreamUnit, len(cfg.Upstreams))}
	k.incremental = cfg.SharedRev() != 0 && cfg.SharedRev() == c.shared && c.table != nil
	c.gen++
	pend := &Pending{k: k}
	p = pend
	defer func() {
		if err != nil {
			pend.discard() // p is nil by now
		}
	}()
	if k.incremental {
		s.Dicts, s.redis, s.redisPeer = c.dicts, c.redis, c.redisPeer
	} else if pend.newRedis, err = k.sharedPart(); err != nil {
		return nil, err
	}
	k.env = func(scope string, spec config.PolicySpec) *Env {
		return &Env{Dicts: s.Dicts, Scope: scope, ID: spec.Identity(), Redis: s.redis, RedisPeer: s.redisPeer,
			upstreams: func(name string) bool { return cfg.UpstreamIndex(name) >= 0 }}
	}
	if err = k.globals(); err != nil {
		return nil, err
	}
	if err = k.consumers(); err != nil {
		return nil, err
	}
	if pend.newGroups, pend.created, pend.updates, err = k.upstreams(); err != nil {
		return nil, err
	}
	if err = k.routes(); err != nil {
		return nil, err
	}
	if err = k.table(); err != nil {
		return nil, err
	}
	return p, nil
}

// Discard drops a prepared version: its policies are cleaned up, its new
// Redis client closed, the lb groups it made forgotten. Safe to call
// after Commit (it does nothing then).
func (p *Pending) Discard() {
	if p.done {
		return
	}
	p.discard()
	p.done = true
	p.k.c.mu.Unlock()
}

func (p *Pending) discard() {
	k := p.k
	for _, set := range k.created {
		set.cleanup(k.c.logf) // the policies built for a refused version
	}
	if p.newRedis && k.s.redis != nil {
		k.s.redis.Close()
	}
	for _, g := range p.created {
		k.c.freeIDs = append(k.c.freeIDs, g.id) // never served: its id is free again
	}
}

// Commit makes the prepared version the compiler's last one and returns
// its snapshot, for Server.Swap. Targets were validated with the config,
// so an lb Update failing here is a bug: it is logged, and the groups
// already updated stay updated.
func (p *Pending) Commit() *Snapshot {
	if p.done {
		panic("engine: Pending committed or discarded twice")
	}
	p.done = true
	k, c, s, cfg := p.k, p.k.c, p.k.s, p.k.cfg
	defer c.mu.Unlock()
	for _, pu := range p.updates {
		if err := pu.u.Update(pu.specs); err != nil && c.Logf != nil {
			c.Logf("%v", cfg.ErrorAt(fmt.Sprintf("upstreams[%d].targets", pu.index), err.Error()))
		}
	}
	for name, g := range c.groups {
		if ng, ok := p.newGroups[name]; !ok || ng != g {
			if g.cancel != nil {
				g.cancel()
			}
			c.freeIDs = append(c.freeIDs, g.id)
		}
	}
	for _, g := range p.created {
		ctx, cancel := context.WithCancel(context.Background())
		g.cancel = cancel
		g.lb.StartHealthChecks(ctx)
	}
	c.groups = p.newGroups
	if !k.incremental {
		c.dicts = s.Dicts
		if s.redis != c.redis {
			c.redis, c.redisPeer, c.redisFP = s.redis, s.redisPeer, ""
			if cfg.Redis != nil {
				c.redisFP = redisFingerprint(cfg.Redis)
			}
		}
	}
	c.lives.commit(c.version+1, k.created, k.droppedSets())
	c.shared, c.ups, c.units, c.revs, c.revsOK = cfg.SharedRev(), k.ups, k.units.List(), k.revs, k.revsOK
	c.slots, c.table = s.routes, s.table
	c.free = append(c.free[:len(c.free)-k.freeUsed], k.freed...)
	c.globals, c.noRoute = s.globals, s.noRoute
	c.consumers, c.consumerSet = s.consumers, s.consumerSet
	c.version++
	s.Version = c.version
	return s
}

// sharedPart makes the shared dicts and the Redis client of a version
// whose shared part changed. newRedis says the client is this version's
// own (closed if the version is refused).
func (k *compilation) sharedPart() (newRedis bool, err error) {
	c, cfg, s := k.c, k.cfg, k.s
	// Shared dicts: unchanged ones keep their contents.
	caps := make(map[string]int64, len(cfg.SharedDicts))
	for name, size := range cfg.SharedDicts {
		caps[name] = int64(size)
	}
	if c.dicts == nil {
		// The dicts read the workers' cached clock (clock.go) on every Incr.
		s.Dicts, err = shm.NewRegistry(caps, shm.WithClock(cachedMono))
	} else {
		s.Dicts, err = c.dicts.Rebuild(caps)
	}
	if err != nil {
		return false, cfg.ErrorAt("shared_dicts", err.Error())
	}
	s.redis, s.redisPeer, newRedis, err = c.redisFor(cfg.Redis)
	if err != nil {
		return false, cfg.ErrorAt("redis", err.Error())
	}
	return newRedis, nil
}

// build makes one policy. A factory that panics fails the compile with
// the panic as the policy's error, the running version staying in force
// (compiles run on the goroutine of a reload or an Admin API call, which
// a panic would end, with the compiler's lock held); the stack goes to the
// compiler's log.
func (k *compilation) build(spec config.PolicySpec, scope string) (pol Policy, err error) {
	if k.c.Policies == nil {
		return nil, fmt.Errorf("%s: policy %q: no policy registry", spec.Path, spec.Name)
	}
	defer func() {
		if r := recover(); r != nil {
			k.c.logf("%s: policy %q panicked while being built: %v\n%s", spec.Path, spec.Name, r, panicStack())
			pol, err = nil, config.SpecError(spec, "", fmt.Sprintf("policy %q panicked while being built: %v", spec.Name, r))
		}
	}()
	return k.c.Policies(spec, k.env(scope, spec))
}

// globals builds the global policies and the 404's route, or keeps the
// last version's.
func (k *compilation) globals() error {
	c, cfg, s := k.c, k.cfg, k.s
	if k.incremental {
		s.globals, s.noRoute = c.globals, c.noRoute
		return nil
	}
	set := &policySet{policies: make([]Policy, len(cfg.GlobalPolicies)), ids: make([]string, len(cfg.GlobalPolicies))}
	k.created = append(k.created, set)
	for i, spec := range cfg.GlobalPolicies {
		pol, err := k.build(spec, "global")
		if err != nil {
			return err
		}
		set.policies[i], set.ids[i] = pol, spec.Identity()
	}
	s.globals = set
	// Requests that match no route still get the global policies'
	// response filters and log handlers on their 404 (CORS fields, the
	// request-id echo, header edits), through a route of their own that
	// has no upstream and runs no request phase.
	var nb ChainBuilder
	for j, pol := range set.policies {
		if err := nb.install(pol, k.c.logf); err != nil {
			return cfg.ErrorAt(cfg.GlobalPolicies[j].Path, err.Error())
		}
	}
	s.noRoute = &Route{chain: nb.build(), series: seriesNone}
	s.noRoute.numVals = int(valsShared + nb.privateVals)
	s.noRoute.numInts = int(intsShared + nb.privateInts)
	return nil
}

type pendingUpdate struct {
	u     *lb.Upstream
	specs []lb.TargetSpec
	index int
}

// upstreams builds the version's upstreams: an upstream whose revision is
// the one compiled last time is kept as it is; others reuse their lb group
// when the balancing config is unchanged, so health state, balancer cursors
// and pools survive.
func (k *compilation) upstreams() (map[string]*lbGroup, []*lbGroup, []pendingUpdate, error) {
	c, cfg, s := k.c, k.cfg, k.s
	newGroups := make(map[string]*lbGroup, len(cfg.Upstreams))
	var created []*lbGroup
	var updates []pendingUpdate
	for i := range cfg.Upstreams {
		cu := &cfg.Upstreams[i]
		rev := cfg.UpstreamRev(i)
		if u := c.ups[cu.Name]; k.incremental && u != nil && rev != 0 && u.rev == rev && c.groups[cu.Name] != nil {
			newGroups[cu.Name] = c.groups[cu.Name]
			s.upstreams[cu.Name] = u.up
			k.ups[cu.Name] = u
			continue
		}
		k.upstreamsChanged = true
		lcfg, err := lbConfig(cu)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("upstreams[%d] (%s): %w", i, cu.Name, err)
		}
		fp := fmt.Sprintf("%+v", lcfgFingerprint(lcfg))
		specs := make([]lb.TargetSpec, len(cu.Targets))
		for j, t := range cu.Targets {
			specs[j] = lb.TargetSpec{Addr: t.Addr, Weight: t.Weight, Down: t.Down, Backup: t.Backup,
				MaxFails: t.MaxFails, FailTimeout: t.FailTimeout.Std()}
		}
		g := c.groups[cu.Name]
		if g == nil || g.cfg != fp {
			u, err := lb.NewUpstream(cu.Name, lcfg)
			if err != nil {
				return nil, nil, nil, cfg.ErrorAt(fmt.Sprintf("upstreams[%d]", i), err.Error())
			}
			g = &lbGroup{id: c.takeID(), lb: u, cfg: fp}
			created = append(created, g)
			// A new group serves nobody yet: it can take its targets now.
			if err := g.lb.Update(specs); err != nil {
				return nil, nil, nil, cfg.ErrorAt(fmt.Sprintf("upstreams[%d].targets", i), err.Error())
			}
		} else {
			// A group in use changes only when the whole config is accepted.
			updates = append(updates, pendingUpdate{g.lb, specs, i})
		}
		newGroups[cu.Name] = g
		up := &Upstream{
			Name:           cu.Name,
			id:             g.id,
			lb:             g.lb,
			connectTimeout: int64(cu.Timeouts.Connect),
			sendTimeout:    int64(cu.Timeouts.Send),
			readTimeout:    int64(cu.Timeouts.Read),
			maxIdle:        cu.Pool.MaxIdle,
			idleTimeout:    int64(cu.Pool.IdleTimeout),
			maxRequests:    cu.Pool.MaxRequests,
			tries:          g.lb.MaxTries(),
			perTryTimeout:  int64(g.lb.PerTryTimeout()),
			series:         upstreamSeriesOf(cu.Name),
		}
		if lc := g.lb.Config(); lc.Balancer == lb.Hash {
			hk := lc.HashOn
			up.hashOn = &hk
		}
		if up.maxIdle < 0 {
			up.maxIdle = 0
		}
		s.upstreams[cu.Name] = up
		k.ups[cu.Name] = &upstreamUnit{rev: rev, up: up}
	}
	return newGroups, created, updates, nil
}

// routes builds or keeps every route, in its slot.
func (k *compilation) routes() error {
	c, cfg, s := k.c, k.cfg, k.s
	k.revs, k.revsOK = cfg.RouteRevs()
	k.slots = cow.Edit(c.slots)
	defer func() { s.routes = k.slots.List() }()
	if changed, ok := k.replacedInPlace(); ok {
		k.inPlace = true
		return k.replaceInPlace(changed)
	}
	k.units = cow.Make[*routeUnit](cfg.Routes.Len())
	kept := 0 // routes of the last version this one has too
	var byName map[string]*routeUnit
	for i, cr := range cfg.Routes.All() {
		rev := cfg.RouteRev(i)
		// Most edits leave the routes where they were: look at the same
		// position first, by name only once a route moved.
		var old *routeUnit
		if i < c.units.Len() && c.units.At(i).name == cr.Name {
			old = c.units.At(i)
		} else {
			if byName == nil {
				byName = make(map[string]*routeUnit, c.units.Len())
				for _, u := range c.units.All() {
					byName[u.name] = u
				}
			}
			old = byName[cr.Name]
		}
		if old != nil {
			old.seen = c.gen
			kept++
		}
		if k.incremental && old != nil && rev != 0 && old.rev == rev && !k.upstreamsChanged {
			// The common case of an edit: the route and everything it
			// uses are as compiled last time.
			k.slots.Set(old.slot, old.route)
			k.units.Set(i, old)
			old.kept = c.gen
			continue
		}
		up, err := k.upstreamOf(i)
		if err != nil {
			return err
		}
		if k.incremental && old != nil && rev != 0 && old.rev == rev {
			r := old.route
			if r.upstream != up {
				// Only its upstream was edited: the same chain and
				// policies, pointing at the new upstream.
				nr := *r
				nr.upstream = up
				r = &nr
			}
			k.slots.Set(old.slot, r)
			old.kept = c.gen // the same policies, whichever unit holds them
			if r != old.route {
				old = &routeUnit{name: cr.Name, rev: rev, route: r, slot: old.slot, match: old.match, seen: c.gen}
			}
			k.units.Set(i, old) // unchanged units are shared by the versions
			continue
		}
		if err := k.compileAt(i, rev, up, old); err != nil {
			return err
		}
	}
	if kept < c.units.Len() {
		// Some routes are gone: free their slots.
		for i := range c.units.Len() {
			if old := c.units.At(i); old.seen != c.gen {
				k.replaced = append(k.replaced, old)
				k.slots.Set(old.slot, nil)
				k.freed = append(k.freed, old.slot)
				k.tableOps = append(k.tableOps, tableOp{slot: old.slot})
			}
		}
	}
	return nil
}

// maxInPlace is how many routes replaced in place replaceInPlace compiles;
// beyond it the walk over every route costs no more than the list.
const maxInPlace = 64

// replacedInPlace finds the edit the Admin API makes most: routes replaced
// where they were, nothing added, dropped or moved, upstreams as compiled.
// It compares the two versions' revisions, which share the chunks the
// edits between them did not change (cow.Changed), instead of walking
// 10,000 routes and their units through pointers (a third of a
// millisecond per change, on the cores that serve requests). It returns
// the positions whose revision changed; ok is false when the version is
// not such an edit, and routes must walk.
func (k *compilation) replacedInPlace() (changed []int, ok bool) {
	c, cfg := k.c, k.cfg
	revs := k.revs
	if !k.incremental || k.upstreamsChanged || !k.revsOK || !c.revsOK || c.revs.Len() != revs.Len() || c.units.Len() != revs.Len() {
		return nil, false
	}
	for i := range cow.Changed(c.revs, revs) {
		if revs.At(i) == 0 {
			return nil, false // unknown: compared as changed, and the walk decides
		}
		// The same name at the same place: the walk would match the old
		// unit by position too. An unnamed route may share its unit with
		// another position (the walk finds units of moved routes by name),
		// so it takes the walk.
		if name := cfg.Routes.At(i).Name; len(changed) == maxInPlace || name == "" || name != c.units.At(i).name {
			return nil, false
		}
		changed = append(changed, i)
	}
	return changed, true
}

// replaceInPlace is routes for replacedInPlace's edit: every unit is kept
// but those of the changed positions, whose routes are compiled again in
// their slots, as the walk would.
func (k *compilation) replaceInPlace(changed []int) error {
	k.units = cow.Edit(k.c.units)
	for _, i := range changed {
		up, err := k.upstreamOf(i)
		if err != nil {
			return err
		}
		// Named: no other position keeps the old unit.
		if err := k.compileAt(i, k.revs.At(i), up, k.c.units.At(i)); err != nil {
			return err
		}
	}
	return nil
}

// upstreamOf is this version's upstream of the route at position i (nil
// for none).
func (k *compilation) upstreamOf(i int) (*Upstream, error) {
	name := k.cfg.Routes.At(i).Upstream
	if name == "" {
		return nil, nil
	}
	if up := k.s.upstreams[name]; up != nil {
		return up, nil
	}
	return nil, k.cfg.ErrorAt(fmt.Sprintf("routes[%d].upstream", i), fmt.Sprintf("unknown upstream %q", name))
}

// compileAt compiles the route at position i (revision rev) into old's
// slot, or a slot of its own when it is new (old nil), and records it: its
// unit, its slot's route, the table's change, the unit it replaces.
func (k *compilation) compileAt(i int, rev config.Rev, up *Upstream, old *routeUnit) error {
	cr := k.cfg.Routes.At(i)
	r, err := k.route(i, cr, up)
	if err != nil {
		return err
	}
	u := &routeUnit{name: cr.Name, rev: rev, route: r, match: cr.Match.RouterMatch(), seen: k.c.gen}
	if old != nil {
		k.replaced = append(k.replaced, old)
		u.slot = old.slot
	} else {
		u.slot = k.takeSlot()
	}
	for u.slot > k.slots.Len() {
		k.slots.Set(k.slots.Len(), nil)
	}
	k.slots.Set(u.slot, r)
	k.units.Set(i, u)
	k.tableOps = append(k.tableOps, tableOp{slot: u.slot, match: &u.match})
	return nil
}

// droppedSets are the last version's policy sets this one does not have:
// those of the routes it compiled again or dropped (unless another route
// kept them: two unnamed routes may find the same unit), and the global
// and consumer sets when it built its own.
func (k *compilation) droppedSets() []*policySet {
	c, s := k.c, k.s
	var out []*policySet
	for _, u := range k.replaced {
		if u.kept != c.gen {
			out = append(out, u.route.own)
		}
	}
	if c.globals != nil && s.globals != c.globals {
		out = append(out, c.globals)
	}
	if c.consumerSet != nil && s.consumerSet != c.consumerSet {
		out = append(out, c.consumerSet)
	}
	return out
}

// takeSlot gives a new route a free slot, or a new one. The compiler's
// free list changes only when the version is accepted.
func (k *compilation) takeSlot() int {
	c := k.c
	if n := len(c.free) - k.freeUsed; n > 0 {
		k.freeUsed++
		return c.free[n-1]
	}
	k.newSlots++
	return c.slots.Len() + k.newSlots - 1
}

// route compiles one route: its chain of the global and its own policies.
func (k *compilation) route(i int, cr *config.Route, up *Upstream) (*Route, error) {
	cfg, s := k.cfg, k.s
	path := "routes[" + strconv.Itoa(i) + "]"
	r := &Route{Name: cr.Name, stripPrefix: cr.StripPrefix, maxBody: int64(cr.MaxBody), upstream: up}
	if r.Name == "" {
		r.Name = path
	}
	r.series = routeSeriesOf(r.Name)
	if r.maxBody == 0 {
		r.maxBody = int64(cfg.Client.MaxBody)
	}
	switch cr.Host {
	case "", config.HostPass:
	case config.HostUpstream:
		r.hostUpstream = true
	default:
		r.hostLiteral = []byte(cr.Host)
	}
	var cb ChainBuilder
	terminates := false
	for j, pol := range s.globals.policies {
		if err := cb.install(pol, k.c.logf); err != nil {
			return nil, cfg.ErrorAt(cfg.GlobalPolicies[j].Path, err.Error())
		}
	}
	own := &policySet{policies: make([]Policy, 0, len(cr.Policies)), ids: make([]string, 0, len(cr.Policies))}
	k.created = append(k.created, own)
	for j, spec := range cr.Policies {
		// The spec's path is its place in this version: an edit may have
		// moved the route.
		spec.Path = path + ".policies[" + strconv.Itoa(j) + "]"
		pol, err := k.build(spec, "route:"+r.Name)
		if err != nil {
			return nil, err
		}
		own.policies = append(own.policies, pol)
		own.ids = append(own.ids, spec.Identity())
		t, err := policyTerminates(pol, k.c.logf)
		if err != nil {
			return nil, cfg.ErrorAt(spec.Path, err.Error())
		}
		terminates = terminates || t
		if err := cb.install(pol, k.c.logf); err != nil {
			return nil, cfg.ErrorAt(spec.Path, err.Error())
		}
	}
	r.own = own
	r.numVals = int(valsShared + cb.privateVals)
	r.numInts = int(intsShared + cb.privateInts)
	if r.upstream == nil && !terminates {
		return nil, cfg.ErrorAt(path+".upstream", "required: the route has no upstream and no policy that answers the request itself (such as response)")
	}
	r.chain, r.meta = cb.buildWithMeta()
	return r, nil
}

// table updates the last version's route table with this version's
// changes, or builds it whole.
func (k *compilation) table() error {
	c, s := k.c, k.s
	if k.incremental && len(k.tableOps) <= maxTableUpdates {
		t := c.table
		for _, op := range k.tableOps {
			var err error
			if t, err = t.Update(op.slot, op.match); err != nil {
				return k.tableError(err)
			}
		}
		s.table = t
		return nil
	}
	var b router.Builder
	for i := range k.cfg.Routes.Len() {
		// In config order, so a conflict is reported on the later route,
		// as the validator does.
		u := k.units.At(i)
		if err := b.Add(u.match, u.slot); err != nil {
			return k.tableError(err)
		}
	}
	t, err := b.Build()
	if err != nil {
		return k.tableError(err)
	}
	s.table = t
	return nil
}

// tableError says a router error with the config's paths: the slots it
// names become positions.
func (k *compilation) tableError(err error) error {
	cfg := k.cfg
	pos := func(slot int) int {
		for i := range k.units.Len() {
			if u := k.units.At(i); u != nil && u.slot == slot {
				return i
			}
		}
		return -1
	}
	var ce *router.ConflictError
	if errors.As(err, &ce) {
		i, o := pos(ce.Route), pos(ce.Other)
		if i >= 0 && o >= 0 {
			return cfg.ErrorAt("routes["+strconv.Itoa(i)+"].match", config.ConflictMessage(o, cfg.Routes.At(o).Name, ce))
		}
	}
	var pe *router.PatternError
	if errors.As(err, &pe) {
		if i := pos(pe.Route); i >= 0 {
			return cfg.ErrorAt("routes["+strconv.Itoa(i)+"].match", err.Error())
		}
	}
	return fmt.Errorf("routes: %w", err)
}
