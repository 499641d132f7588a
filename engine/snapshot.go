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
	"github.com/sluice-gw/sluice/cow"
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

	table   *router.Table    // route indexes are slots of routes
	routes  cow.List[*Route] // by slot (compile.go); nil where no route is
	noRoute *Route           // the 404's: the global policies' filters and log (exchange.go)
	globals *policySet       // the global policies, installed in every route's chain

	consumers   map[string]*Consumer // by name, with their policies (consumer.go)
	consumerSet *policySet           // every consumer's policies

	upstreams map[string]*Upstream

	headLimits             http1.Limits
	respLimits             http1.Limits
	clientHeaderTimeout    int64
	clientBodyTimeout      int64
	clientKeepaliveTimeout int64
	clientSendTimeout      int64
	tunnelIdleTimeout      int64
	policyTimeout          int64

	retire    retirement // retire.go
	redis     *redis.Client
	redisPeer *Peer // redis's server on the workers' loops; nil when redis has no Loop
	compiler  *Compiler
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

	own *policySet // its own policies (not the globals), shared with the versions that keep the route
	// meta lets a consumer's policies merge into the chain (consumer.go):
	// each handler's priority and policy (the globals first, then its own).
	meta chainMeta
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
	// RedisPeer is Redis's server for calls on the worker's loop
	// (Ctx.CallPeer, in RESP: Redis.Loop), or nil: no redis section, or
	// one in cluster or sentinel mode or with TLS, which Redis alone
	// serves.
	RedisPeer *Peer

	// upstreams says whether the config being compiled has an upstream
	// of that name (HasUpstream); nil when unknown.
	upstreams func(name string) bool
}

// HasUpstream reports whether the config being compiled has an upstream
// called name, for policies that send to upstreams by name (aggregate,
// mirror, traffic-split, batch-requests) to refuse a typo at load time
// rather than answer 502. An Env made outside a compile (tests) knows no
// config and says true.
func (e *Env) HasUpstream(name string) bool {
	return e.upstreams == nil || e.upstreams(name)
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

	redis     *redis.Client // one per process, made again only when its section changes
	redisPeer *Peer         // redis's Loop, closed with it
	redisFP   string

	// What the last accepted version compiled, kept for the next one to
	// reuse (compile.go).
	shared  config.Rev               // the config's SharedRev
	ups     map[string]*upstreamUnit // by name
	units   cow.List[*routeUnit]     // by position in the last config
	revs    cow.List[config.Rev]     // the last config's RouteRevs, parallel to units
	revsOK  bool                     // revs are known
	slots   cow.List[*Route]         // the last version's routes by slot
	free    []int                    // slots no route uses
	table   *router.Table
	globals *policySet
	noRoute *Route
	gen     uint64 // marks the units a compile saw

	consumers   map[string]*Consumer
	consumerSet *policySet

	lives setLives // which policy sets versions not yet retired have (retire.go)
}

type lbGroup struct {
	id     int
	lb     *lb.Upstream
	cfg    string             // fingerprint of the balancing config it was built from
	cancel context.CancelFunc // stops its active health checks
}

// NewCompiler returns a compiler that builds policies with f.
func NewCompiler(f PolicyFactory) *Compiler {
	return &Compiler{Policies: f, groups: make(map[string]*lbGroup), ups: map[string]*upstreamUnit{}}
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
		c.redis.Close() // and its peer
		c.redis, c.redisPeer = nil, nil
	}
	for _, g := range c.groups {
		if g.cancel != nil {
			g.cancel()
		}
	}
}

// redisFor returns the client for the config's redis section: the current
// one when the section did not change, else a new one (newClient true),
// which the compiler adopts only if the whole config is accepted. A client
// that a newer config replaced is closed when the last snapshot using it
// retires (Snapshot.cleanup).
func (c *Compiler) redisFor(rc *config.Redis) (client *redis.Client, peer *Peer, newClient bool, err error) {
	if rc == nil {
		return nil, nil, false, nil
	}
	if c.redis != nil && c.redisFP == redisFingerprint(rc) {
		return c.redis, c.redisPeer, false, nil
	}
	if client, err = redis.New(rc, c.Logf); err != nil {
		return nil, nil, false, err
	}
	if l := client.Loop(); l != nil {
		peer = NewPeer(PeerOptions{Name: "redis " + l.Addr(), Addr: l.Addr(), Protocol: l,
			DialTimeout: l.DialTimeout(), CallTimeout: l.CallTimeout()})
		client.OnClose(peer.Close)
	}
	return client, peer, true, nil
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
