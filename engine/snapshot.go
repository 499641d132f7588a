package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/router"
	"github.com/sluice-gw/sluice/shm"
)

// Target is a server of an upstream; its health and load live in package lb.
type Target = lb.Target

// Snapshot is one compiled, immutable config version: the router table,
// every route's phase chains, the upstreams, and the client limits. Workers
// read the current one through an atomic pointer; a request keeps the one it
// started with.
type Snapshot struct {
	Version uint64
	Config  *config.Config
	Dicts   *shm.Registry

	table   *router.Table
	routes  []*Route
	noRoute *Route // the 404's: the global policies' filters and log (exchange.go)

	upstreams map[string]*Upstream

	headLimits             http1.Limits
	respLimits             http1.Limits
	clientHeaderTimeout    int64
	clientBodyTimeout      int64
	clientKeepaliveTimeout int64
	clientSendTimeout      int64
	tunnelIdleTimeout      int64
	policyTimeout          int64

	policies []Policy   // every policy built for this version, for Cleanup
	retire   retirement // retire.go
	redis    *redis.Client
	compiler *Compiler
}

// Route is a compiled route.
type Route struct {
	Name         string
	upstream     *Upstream
	chain        chain
	maxBody      int64
	stripPrefix  bool
	hostLiteral  []byte
	hostUpstream bool
	numVals      int // per-request values its policies can use (values.go)
	numInts      int
	series       int32 // its metric series (metrics.go)
}

// Upstream is an upstream as the engine uses it: the lb group (health and
// balancing state, shared across config versions while its balancing
// config is unchanged) and this version's pool and timeout settings.
type Upstream struct {
	Name           string
	id             int // index of the workers' pickers; stable while lb is
	lb             *lb.Upstream
	connectTimeout int64
	sendTimeout    int64
	readTimeout    int64
	maxIdle        int
	idleTimeout    int64
	maxRequests    int
	tries          int
	perTryTimeout  int64
	hashOn         *lb.HashKeySpec // the hash balancer's key; nil for other balancers
	series         int32           // its metric series (metrics.go)
}

// Upstream returns the upstream called name in this snapshot, or nil.
func (s *Snapshot) Upstream(name string) *Upstream { return s.upstreams[name] }

// UpstreamNames lists the snapshot's upstreams, sorted.
func (s *Snapshot) UpstreamNames() []string {
	names := make([]string, 0, len(s.upstreams))
	for n := range s.upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LB is the upstream's balancing and health group (for status views).
func (u *Upstream) LB() *lb.Upstream { return u.lb }

// PolicyFactory builds a policy from its spec; package policies provides it.
type PolicyFactory func(spec config.PolicySpec, env *Env) (Policy, error)

// Env is what a policy factory may use besides its own config. Each policy
// gets its own Env.
type Env struct {
	// Dicts are the shared dicts of the config being compiled.
	Dicts *shm.Registry
	// Scope is where the policy is configured: "global" or "route:NAME"
	// (a route without a name is "route:routes[i]", its position).
	Scope string
	// ID is the policy's identity in its scope: its id, else its name.
	ID string
	// Redis is the process's Redis client (the config's redis section), or
	// nil when there is none. Call it from off-loop work (Ctx.Offload):
	// every call may wait up to the section's read_timeout.
	Redis *redis.Client
}

// Identity is the policy's stable identity, "SCOPE/ID": the key of state
// that must survive reloads and edits (counters, caches), and that moves
// with the policy when routes or policies are reordered.
func (e *Env) Identity() string { return e.Scope + "/" + e.ID }

// Compiler turns validated configs into snapshots. It keeps the lb groups
// across versions so health state, balancer cursors and pools survive a
// reload for upstreams whose balancing config did not change. Safe for
// concurrent use (a reload and an Admin API change may race).
type Compiler struct {
	Policies PolicyFactory
	// Logf receives the Redis client's connection changes; nil = silent.
	Logf func(format string, args ...any)

	mu      sync.Mutex
	dicts   *shm.Registry    // kept across versions: counters survive reloads
	clock   *shm.CoarseClock // the dicts' TTL clock: read on every Incr, so cached (as nginx's event-loop time)
	version uint64
	groups  map[string]*lbGroup
	nextID  int
	freeIDs []int // ids of retired groups: workers' picker slots are reused, not grown

	redis   *redis.Client // one per process, made again only when its section changes
	redisFP string
}

type lbGroup struct {
	id     int
	lb     *lb.Upstream
	cfg    string             // fingerprint of the balancing config it was built from
	cancel context.CancelFunc // stops its active health checks
}

// NewCompiler returns a compiler that builds policies with f.
func NewCompiler(f PolicyFactory) *Compiler {
	return &Compiler{Policies: f, groups: make(map[string]*lbGroup)}
}

// Upstreams returns the lb groups in use, by name.
func (c *Compiler) Upstreams() map[string]*lb.Upstream {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]*lb.Upstream, len(c.groups))
	for name, g := range c.groups {
		m[name] = g.lb
	}
	return m
}

// Close stops the active health checks of every group and closes the
// Redis client.
func (c *Compiler) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.redis != nil {
		c.redis.Close()
		c.redis = nil
	}
	for _, g := range c.groups {
		if g.cancel != nil {
			g.cancel()
		}
	}
}

// Compile builds a snapshot from a validated config. It fails with a precise
// error (the config path of the culprit) and changes nothing when the config
// cannot be served.
func (c *Compiler) Compile(cfg *config.Config) (*Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &Snapshot{
		Config:                 cfg,
		upstreams:              make(map[string]*Upstream, len(cfg.Upstreams)),
		clientHeaderTimeout:    int64(cfg.Client.HeaderTimeout),
		clientBodyTimeout:      int64(cfg.Client.BodyTimeout),
		clientKeepaliveTimeout: int64(cfg.Client.KeepaliveTimeout),
		clientSendTimeout:      int64(60 * time.Second),
		tunnelIdleTimeout:      int64(time.Hour),
	}
	s.headLimits = http1.Limits{MaxHeadBytes: int(cfg.Client.MaxHeadBytes), MaxFields: cfg.Client.MaxFields}
	s.respLimits = http1.Limits{MaxHeadBytes: 64 << 10, MaxFields: 200, MaxFieldLine: 32 << 10}
	s.policyTimeout = int64(cfg.Client.PolicyTimeout)
	if s.policyTimeout <= 0 {
		s.policyTimeout = s.clientHeaderTimeout
	}
	freezeKeys()
	compiled := false
	defer func() {
		if !compiled {
			s.redis = nil // closed below when it was made for this version
			s.cleanup()   // the policies built for a refused version
		}
	}()

	// Shared dicts: unchanged ones keep their contents.
	caps := make(map[string]int64, len(cfg.SharedDicts))
	for name, size := range cfg.SharedDicts {
		caps[name] = int64(size)
	}
	var dicts *shm.Registry
	var err error
	if c.dicts == nil {
		// The dicts read the workers' cached clock (clock.go) on every Incr.
		dicts, err = shm.NewRegistry(caps, shm.WithClock(cachedMono))
	} else {
		dicts, err = c.dicts.Rebuild(caps)
	}
	if err != nil {
		return nil, cfg.ErrorAt("shared_dicts", err.Error())
	}
	s.Dicts = dicts
	s.compiler = c
	rc, newRedis, err := c.redisFor(cfg.Redis)
	if err != nil {
		return nil, cfg.ErrorAt("redis", err.Error())
	}
	defer func() {
		if !compiled && newRedis {
			rc.Close()
		}
	}()
	s.redis = rc
	build := func(spec config.PolicySpec, scope string) (Policy, error) {
		if c.Policies == nil {
			return nil, fmt.Errorf("%s: policy %q: no policy registry", spec.Path, spec.Name)
		}
		pol, err := c.Policies(spec, &Env{Dicts: dicts, Scope: scope, ID: spec.Identity(), Redis: rc})
		if err != nil {
			return nil, err
		}
		s.policies = append(s.policies, pol)
		return pol, nil
	}
	// Global policies are built once and installed on every route.
	globals := make([]Policy, len(cfg.GlobalPolicies))
	for i, spec := range cfg.GlobalPolicies {
		if globals[i], err = build(spec, "global"); err != nil {
			return nil, err
		}
	}

	// Upstreams: reuse lb groups whose balancing config is unchanged.
	newGroups := make(map[string]*lbGroup, len(cfg.Upstreams))
	var created []*lbGroup
	type pendingUpdate struct {
		u     *lb.Upstream
		specs []lb.TargetSpec
		index int
	}
	var updates []pendingUpdate
	for i := range cfg.Upstreams {
		cu := &cfg.Upstreams[i]
		lcfg, err := lbConfig(cu)
		if err != nil {
			return nil, fmt.Errorf("upstreams[%d] (%s): %w", i, cu.Name, err)
		}
		fp := fmt.Sprintf("%+v", lcfgFingerprint(lcfg))
		specs := make([]lb.TargetSpec, len(cu.Targets))
		for j, t := range cu.Targets {
			specs[j] = lb.TargetSpec{Addr: t.Addr, Weight: t.Weight}
		}
		g := c.groups[cu.Name]
		if g == nil || g.cfg != fp {
			u, err := lb.NewUpstream(cu.Name, lcfg)
			if err != nil {
				return nil, cfg.ErrorAt(fmt.Sprintf("upstreams[%d]", i), err.Error())
			}
			g = &lbGroup{id: c.takeID(), lb: u, cfg: fp}
			created = append(created, g)
			// A new group serves nobody yet: it can take its targets now.
			if err := g.lb.Update(specs); err != nil {
				return nil, cfg.ErrorAt(fmt.Sprintf("upstreams[%d].targets", i), err.Error())
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
	}

	// Routes.
	var b router.Builder
	s.routes = make([]*Route, len(cfg.Routes))
	for i := range cfg.Routes {
		cr := &cfg.Routes[i]
		path := fmt.Sprintf("routes[%d]", i)
		r := &Route{Name: cr.Name, stripPrefix: cr.StripPrefix, maxBody: int64(cr.MaxBody)}
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
		if cr.Upstream != "" {
			r.upstream = s.upstreams[cr.Upstream]
			if r.upstream == nil {
				return nil, cfg.ErrorAt(path+".upstream", fmt.Sprintf("unknown upstream %q", cr.Upstream))
			}
		}
		var cb ChainBuilder
		terminates := false
		for j, pol := range globals {
			if err := cb.install(pol); err != nil {
				return nil, cfg.ErrorAt(cfg.GlobalPolicies[j].Path, err.Error())
			}
		}
		for _, spec := range cr.Policies {
			pol, err := build(spec, "route:"+r.Name)
			if err != nil {
				return nil, err
			}
			if t, ok := pol.(Terminator); ok && t.Terminates() {
				terminates = true
			}
			if err := cb.install(pol); err != nil {
				return nil, cfg.ErrorAt(spec.Path, err.Error())
			}
		}
		r.numVals = int(valsShared + cb.privateVals)
		r.numInts = int(intsShared + cb.privateInts)
		if r.upstream == nil && !terminates {
			return nil, cfg.ErrorAt(path+".upstream", "required: the route has no upstream and no policy that answers the request itself (such as response)")
		}
		r.chain = cb.build()
		m := router.Match{Hosts: cr.Match.Hosts, Paths: cr.Match.Paths, Methods: cr.Match.Methods}
		if err := b.Add(m, i); err != nil {
			return nil, cfg.ErrorAt(path+".match", err.Error())
		}
		s.routes[i] = r
	}
	t, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	s.table = t

	// Requests that match no route still get the global policies'
	// response filters and log handlers on their 404 (CORS fields, the
	// request-id echo, header edits), through a route of their own that
	// has no upstream and runs no request phase.
	var nb ChainBuilder
	for j, pol := range globals {
		if err := nb.install(pol); err != nil {
			return nil, cfg.ErrorAt(cfg.GlobalPolicies[j].Path, err.Error())
		}
	}
	s.noRoute = &Route{chain: nb.build(), series: seriesNone}
	s.noRoute.numVals = int(valsShared + nb.privateVals)
	s.noRoute.numInts = int(intsShared + nb.privateInts)

	// Commit: only now does the running state change. Targets were
	// validated with the config, so an Update failing here is a bug; it is
	// reported, and the groups already updated stay updated.
	for _, pu := range updates {
		if err := pu.u.Update(pu.specs); err != nil {
			return nil, cfg.ErrorAt(fmt.Sprintf("upstreams[%d].targets", pu.index), err.Error())
		}
	}
	for name, g := range c.groups {
		if ng, ok := newGroups[name]; !ok || ng != g {
			if g.cancel != nil {
				g.cancel()
			}
			c.freeIDs = append(c.freeIDs, g.id)
		}
	}
	for _, g := range created {
		ctx, cancel := context.WithCancel(context.Background())
		g.cancel = cancel
		g.lb.StartHealthChecks(ctx)
	}
	c.groups = newGroups
	c.dicts = dicts
	if newRedis {
		c.redis = rc
		c.redisFP = redisFingerprint(cfg.Redis)
	} else if cfg.Redis == nil {
		c.redis, c.redisFP = nil, ""
	}
	c.version++
	s.Version = c.version
	compiled = true
	return s, nil
}

// redisFor returns the client for the config's redis section: the current
// one when the section did not change, else a new one (newClient true),
// which the compiler adopts only if the whole config is accepted. A client
// that a newer config replaced is closed when the last snapshot using it
// retires (Snapshot.cleanup).
func (c *Compiler) redisFor(rc *config.Redis) (client *redis.Client, newClient bool, err error) {
	if rc == nil {
		return nil, false, nil
	}
	if c.redis != nil && c.redisFP == redisFingerprint(rc) {
		return c.redis, false, nil
	}
	client, err = redis.New(rc, c.Logf)
	return client, err == nil, err
}

func redisFingerprint(rc *config.Redis) string { return fmt.Sprintf("%+v", *rc) }

// isCurrentRedis says whether rc is still the compiler's client.
func (c *Compiler) isCurrentRedis(rc *redis.Client) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.redis == rc
}

// takeID gives a new lb group the id of a retired one when there is one,
// so the workers' picker arrays (indexed by id) stay as long as the largest
// number of upstreams ever configured at once, however often they change.
func (c *Compiler) takeID() int {
	if n := len(c.freeIDs); n > 0 {
		id := c.freeIDs[n-1]
		c.freeIDs = c.freeIDs[:n-1]
		return id
	}
	c.nextID++
	return c.nextID - 1
}

// lbConfig translates the declarative upstream into lb's Config.
func lbConfig(cu *config.Upstream) (lb.Config, error) {
	var lc lb.Config
	lc.Clock = cachedTime // the workers' cached clock (clock.go), not a ticker of lb's own
	lc.Balancer = lb.BalancerKind(cu.Balancer)
	if cu.HashOn != "" {
		hk, err := lb.ParseHashOn(cu.HashOn)
		if err != nil {
			return lc, err
		}
		lc.HashOn = hk
	}
	h := &cu.Health
	lc.Passive = lb.PassiveConfig{
		MaxFails:       h.Passive.MaxFails,
		FailTimeout:    h.Passive.FailTimeout.Std(),
		Consecutive5xx: h.Passive.Consecutive5xx,
	}
	if a := h.Active; a != nil {
		lc.Active = lb.ActiveConfig{
			Type:      lb.ProbeKind(a.Type),
			Path:      a.Path,
			Host:      a.Host,
			Interval:  a.Interval.Std(),
			Timeout:   a.Timeout.Std(),
			Statuses:  a.Statuses,
			Healthy:   a.Healthy,
			Unhealthy: a.Unhealthy,
		}
	}
	lc.MaxEjectedPercent = h.MaxEjectedPercent
	lc.PanicThreshold = h.PanicThreshold
	r := &cu.Retries
	lc.Retry = lb.RetryConfig{
		Tries:         r.Tries,
		PerTryTimeout: r.PerTryTimeout.Std(),
		Statuses:      r.Statuses,
		NonIdempotent: r.NonIdempotent,
		Budget:        r.Budget,
	}
	if r.On != nil {
		lc.Retry.On = lb.RetryOnNone
		for _, on := range r.On {
			switch on {
			case config.RetryOnConnect:
				lc.Retry.On |= lb.RetryOnConnect
			case config.RetryOnTimeout:
				lc.Retry.On |= lb.RetryOnTimeout
			case config.RetryOnError:
				lc.Retry.On |= lb.RetryOnError
			case config.RetryOnInvalidHeader:
				lc.Retry.On |= lb.RetryOnInvalidHeader
			default:
				return lc, fmt.Errorf("retries.on: unknown condition %q", on)
			}
		}
	}
	return lc, nil
}

// lcfgFingerprint is the part of an lb config that needs a new group when
// it changes (everything but the targets, which Update handles).
func lcfgFingerprint(c lb.Config) string {
	c.Clock = nil // a func prints as an address
	return strings.TrimSpace(fmt.Sprintf("%+v", c))
}

// bytesOf views a string's bytes without copying. The result must not be
// modified; callers pass it to APIs that copy (http1.Edits).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// durationOf converts nanoseconds to a time.Duration, with a floor so a zero
// config value cannot mean "no time at all".
func durationOf(ns int64) time.Duration {
	if ns <= 0 {
		return 5 * time.Second
	}
	return time.Duration(ns)
}
