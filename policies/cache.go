package policies

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/shm"
)

// The `cache` policy: a two-level response cache. L1 is a shared dict of
// the gateway (shm: bounded, CLOCK eviction, per node); L2, optional, is
// Redis, shared by every gateway of the fleet. A hit answers in the
// content phase (no balancer, no upstream); a miss goes upstream and, when
// the response may be stored, the policy keeps its body (BufferResponse
// when its length is known, FilterBody otherwise) and stores it in L1 on
// the loop and in L2 off it. Misses on one key are coalesced
// (cache_fill.go); the stored form is in cache_entry.go.
//
// X-Cache-Status says what happened: HIT (X-Cache-Level: L1 or L2), MISS,
// EXPIRED (a stale entry was found and is being refreshed), STALE (a stale
// entry was served: while another request refreshes it, or because the
// upstream failed), BYPASS (a bypass rule matched: the cache was not read,
// the response may still be stored).

// cacheConfig is the `cache` policy's config.
type cacheConfig struct {
	// Key is a template of the key ("{param_id}:{consumer}"; the seed's
	// mustache form "{{id}}_{{age}}" is accepted, a bare name being a
	// declared parameter or a variable). Default: host, path, and the
	// declared parameters sorted by name (the params policy) or else the
	// query as sent. The method class (GET/HEAD share entries), the
	// policy's identity and, unless per_consumer is false, the consumer
	// are always part of it.
	Key string `yaml:"key" desc:"template of the key: {param_id}:{arg_x}...; mustache {{id}} is accepted; default host, path and the declared parameters sorted (or the query)"`
	// PerConsumer keeps consumers' entries apart. Default true.
	PerConsumer *bool `yaml:"per_consumer" desc:"keep each consumer's entries apart; default true"`
	// Dict is the shared dict of L1, declared in shared_dicts. Default
	// "cache". One entry must fit in one shard of it (capacity/64 for a
	// dict of 4MiB or more).
	Dict string `yaml:"dict" desc:"shared dict of the L1 cache, declared in shared_dicts; default cache"`
	// L2 adds Redis (the top-level redis section) as the second level:
	// "redis", or "none" (default).
	L2 string `yaml:"l2" enum:"none|redis" desc:"second level: redis (the top-level redis section) or none (default)"`
	// L2Timeout bounds an L2 lookup; a slower (or down) Redis is a miss.
	// Default 50ms.
	L2Timeout config.Duration `yaml:"l2_timeout" desc:"longest L2 lookup; slower or down Redis is a miss; default 50ms"`
	// TTL of a stored response when the upstream gives no freshness
	// lifetime (s-maxage, max-age, Expires); the upstream's Age counts
	// against it. Default 60s.
	TTL config.Duration `yaml:"ttl" desc:"how long a stored response is fresh when the upstream says nothing (s-maxage, max-age, Expires); its Age counts against it; default 60s"`
	// StatusTTL gives some statuses their own TTL ({"404": 10s}); each is
	// cacheable too.
	StatusTTL map[string]config.Duration `yaml:"status_ttl" desc:"TTL per status, {\"404\": 10s}; these statuses are cacheable too"`
	// Statuses that may be stored, 200..599 but not 206 or 304 (a range,
	// or no content: never an entry under the full key). Default [200]
	// (plus status_ttl's).
	Statuses []int `yaml:"statuses" desc:"statuses that may be stored, 200..599 but not 206 or 304; default [200] and those of status_ttl"`
	// Methods that read the cache. Default [GET, HEAD]; POST is allowed
	// when the key comes from declared parameters (the params policy).
	Methods []string `yaml:"methods" desc:"methods served from the cache; default GET and HEAD; POST when the key is built from declared parameters"`
	// ContentTypes that may be stored: media types, "type/*", structured
	// suffixes ("+json"), or "*" for any. Default JSON (application/json
	// and +json types).
	ContentTypes []string `yaml:"content_types" desc:"content types that may be stored (type/sub, type/*, a +suffix such as +json, or * for any); default JSON"`
	// JSONObjectOnly stores only a body that is a JSON object (the seed's
	// rule: never a null, an array or an error string). Default false.
	JSONObjectOnly bool `yaml:"json_object_only" desc:"store only a body that is a JSON object; default false"`
	// MaxBody is the largest body stored; a larger response passes,
	// uncached. Default 1MiB.
	MaxBody config.Size `yaml:"max_body" desc:"largest body stored; larger responses pass uncached; default 1MiB"`
	// CacheControl respects the upstream's Cache-Control, Expires and Age
	// (RFC 9111 §4.2): no-store, no-cache and private prevent storing;
	// s-maxage, then max-age, then Expires less Date set the lifetime,
	// and Age counts against it. False: ttl (or status_ttl) from the
	// store. Default true.
	CacheControl *bool `yaml:"cache_control" desc:"respect the upstream's Cache-Control (no-store, no-cache, private, s-maxage, max-age), Expires and Age; false: ttl from the store; default true"`
	// StoreSetCookie stores responses with Set-Cookie (without the
	// Set-Cookie fields). Default false: they are not stored.
	StoreSetCookie bool `yaml:"store_set_cookie" desc:"store responses carrying Set-Cookie (the fields themselves are never stored); default false"`
	// Vary lists request fields the key includes; a response whose Vary
	// names another field (or *) is not stored. Default none.
	Vary []string `yaml:"vary" desc:"request fields added to the key; responses varying on other fields are not stored"`
	// Bypass lists variables (http_x_no_cache, cookie_nocache,
	// arg_refresh...): when one has a value other than "" or "0", the
	// cache is not read (BYPASS) and the response may refresh it.
	Bypass []string `yaml:"bypass" desc:"variables that skip the lookup when set and not 0 (http_NAME, cookie_NAME, arg_NAME...); the response still refreshes the entry"`
	// LockTimeout bounds how long a miss waits for another request filling
	// the same key before going upstream itself. Default 3s; keep it
	// below client.policy_timeout.
	LockTimeout config.Duration `yaml:"lock_timeout" desc:"longest wait for another request filling the same key; default 3s, below client.policy_timeout"`
	// LockScope is who coalesces misses: "gateway" (the requests of this
	// gateway; default) or "fleet" (with l2: redis: every gateway sharing
	// the Redis, through a lock in Redis; see cache_fill.go).
	LockScope string `yaml:"lock_scope" enum:"gateway|fleet" desc:"who shares one upstream request per cold key: gateway (this gateway's misses; default) or fleet (every gateway sharing l2: redis, through a lock in Redis)"`
	// LockPoll is how often a gateway waiting for another gateway's fill
	// looks L2 up (lock_scope: fleet). Default 20ms.
	LockPoll config.Duration `yaml:"lock_poll" desc:"lock_scope: fleet: how often a gateway waiting for another's fill looks L2 up; default 20ms"`
	// StaleWhileRevalidate serves an expired entry (STALE) for this long
	// past its TTL while one request refreshes it. Default 0.
	StaleWhileRevalidate config.Duration `yaml:"stale_while_revalidate" desc:"serve an expired entry this long past its TTL while one request refreshes it; default 0"`
	// StaleIfError serves an expired entry for this long past its TTL
	// when the upstream answers 5xx or fails. Default 0.
	StaleIfError config.Duration `yaml:"stale_if_error" desc:"serve an expired entry this long past its TTL when the upstream fails or answers 5xx; default 0"`
	// Purge lets the PURGE method delete the request's entry (L1 and L2).
	// Restrict who may send it (ip-restriction, auth). Default false.
	Purge bool `yaml:"purge" desc:"let the PURGE method delete the request's entry; restrict it with ip-restriction or auth; default false"`
}

const (
	cachePriority         = 100 // content: after the access checks; body_filter: before response-rewrite
	defaultCacheTTL       = 60 * time.Second
	defaultCacheMaxBody   = 1 << 20
	defaultCacheL2Timeout = 50 * time.Millisecond
	defaultCacheLock      = 3 * time.Second
	cacheRedisPrefix      = "sluice:cache:"
	cacheL2WriteTimeout   = time.Second
)

// cacheStatus is what the cache did for a request.
type cacheStatus uint8

const (
	csNone cacheStatus = iota
	csMiss
	csHit
	csExpired
	csStale
	csBypass
)

var cacheStatusFields = [...]string{"", "MISS", "HIT", "EXPIRED", "STALE", "BYPASS"}

type cachePolicy struct {
	identity     string
	key          *engine.Template // nil: the default key
	perConsumer  bool
	vary         [][]byte // request field names added to the key
	dict         *shm.Dict
	redis        *redis.Client
	l2Timeout    time.Duration
	ttl          time.Duration
	statusTTL    map[int]time.Duration
	statuses     statusSet
	methods      []string
	ctypes       []string // nil: any
	jsonObject   bool
	maxBody      int64
	cacheControl bool
	setCookie    bool
	bypass       []engine.Variable
	lockTimeout  time.Duration
	fleetLock    bool          // lock_scope: fleet
	lockPoll     time.Duration // lock_scope: fleet
	swr, sie     time.Duration
	purge        bool

	state engine.Key[*cacheReq]
	free  perWorker[[]*cacheReq]
	fills *fillTable
	wake  func(*engine.Ctx) engine.Status
	stats *cacheStats
	// metrics are its Prometheus families (cacheLookups, cacheStores);
	// nil without an Env.
	metrics [2]*engine.PolicyCounter
}

// cacheReq is a request's cache state; a worker keeps spares.
type cacheReq struct {
	worker  int
	status  cacheStatus
	level   byte // 1 or 2: where a hit came from
	served  bool // the cache answered (hit or stale)
	leads   bool // this request fills the key
	noStore bool
	// authorized: the request has Authorization and no consumer (the
	// backend, not the gateway, checks it): stored only when the response
	// allows a shared cache to.
	authorized bool
	storing    bool
	overflow   bool
	hasStale   bool
	key        []byte // the full L1 key
	entry      []byte // the entry read (a hit's body is a view of it)
	fields     []byte // a local answer's fields
	store      []byte // the entry being stored
	l2         []byte // an L2 value (Redis's bytes)
	// lockKey and lockToken name the key's fleet lock and this request's
	// value for it ("" when the request takes no part in the fleet lock);
	// lockHeld says it holds the lock (it fills the key for every
	// gateway). fleetUntil ends its wait for another gateway's fill (unix
	// ns, 0 before the wait).
	lockKey, lockToken string
	lockHeld           bool
	fleetUntil         int64
}

func init() {
	RegisterConfig("cache", cacheConfig{}, newCache)
}

// mustacheVar matches the seed's {{name}} placeholders.
var mustacheVar = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

func newCache(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg cacheConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	var metrics [2]*engine.PolicyCounter
	if env == nil {
		env = &engine.Env{Scope: "global", ID: "cache"}
	} else {
		var err error
		if metrics, err = cacheMetricsOf(env); err != nil {
			return nil, err
		}
	}
	p := &cachePolicy{
		metrics:      metrics,
		identity:     env.Identity(),
		perConsumer:  cfg.PerConsumer == nil || *cfg.PerConsumer,
		ttl:          cfg.TTL.Std(),
		maxBody:      int64(cfg.MaxBody),
		cacheControl: cfg.CacheControl == nil || *cfg.CacheControl,
		setCookie:    cfg.StoreSetCookie,
		jsonObject:   cfg.JSONObjectOnly,
		l2Timeout:    cfg.L2Timeout.Std(),
		lockTimeout:  cfg.LockTimeout.Std(),
		swr:          cfg.StaleWhileRevalidate.Std(),
		sie:          cfg.StaleIfError.Std(),
		purge:        cfg.Purge,
		fills:        new(fillTable),
		stats:        cacheStatsFor(env.Identity()),
	}
	p.wake = p.wakeWaiter
	if p.ttl <= 0 {
		p.ttl = defaultCacheTTL
	}
	if p.maxBody <= 0 {
		p.maxBody = defaultCacheMaxBody
	}
	if p.l2Timeout <= 0 {
		p.l2Timeout = defaultCacheL2Timeout
	}
	if p.lockTimeout <= 0 {
		p.lockTimeout = defaultCacheLock
	}
	usesParams := false
	if cfg.Key != "" {
		src := mustacheVar.ReplaceAllStringFunc(cfg.Key, func(m string) string {
			name := mustacheVar.FindStringSubmatch(m)[1]
			if _, err := engine.ParseVariable(name); err == nil {
				return "{" + name + "}"
			}
			return "{param_" + name + "}"
		})
		t, err := engine.ParseTemplate(src)
		if err != nil {
			return nil, config.FieldError(spec, "key", err.Error())
		}
		if len(t.Variables()) == 0 {
			return nil, config.FieldError(spec, "key", "has no variable: every request would share one entry")
		}
		for _, v := range t.Variables() {
			if strings.HasPrefix(v, "param_") {
				usesParams = true // ParseTemplate checked every variable
			}
		}
		p.key = t
	} else {
		usesParams = true // the default key holds the declared parameters when there are some
	}
	for i, h := range cfg.Vary {
		if !http1.ValidFieldName(h) {
			return nil, config.FieldError(spec, "vary["+itoa(i)+"]", fmt.Sprintf("not a field name: %q", h))
		}
		p.vary = append(p.vary, []byte(h))
	}
	if cfg.Dict == "" {
		cfg.Dict = "cache"
	}
	if env.Dicts != nil {
		p.dict = env.Dicts.Dict(cfg.Dict)
	}
	if p.dict == nil {
		return nil, config.FieldError(spec, "dict", fmt.Sprintf("shared dict %q is not declared in shared_dicts", cfg.Dict))
	}
	switch cfg.L2 {
	case "", "none":
	case "redis":
		if env.Redis == nil {
			return nil, config.FieldError(spec, "l2", "redis needs the top-level redis section")
		}
		p.redis = env.Redis
	default:
		return nil, config.FieldError(spec, "l2", fmt.Sprintf(`must be "none" or "redis", got %q`, cfg.L2))
	}
	switch cfg.LockScope {
	case "", "gateway":
	case "fleet":
		if p.redis == nil {
			return nil, config.FieldError(spec, "lock_scope", "fleet needs l2: redis (the lock and the entry the others wait for are in Redis)")
		}
		p.fleetLock = true
	default:
		return nil, config.FieldError(spec, "lock_scope", fmt.Sprintf(`must be "gateway" or "fleet", got %q`, cfg.LockScope))
	}
	p.lockPoll = cfg.LockPoll.Std()
	if cfg.LockPoll != 0 && !p.fleetLock {
		return nil, config.FieldError(spec, "lock_poll", "is for lock_scope: fleet")
	}
	if p.lockPoll <= 0 {
		p.lockPoll = defaultCacheLockPoll
	}
	if len(cfg.Statuses) == 0 {
		p.statuses.add(200) // and status_ttl's, below
	}
	for i, st := range cfg.Statuses {
		if st < 200 || st > 599 {
			return nil, config.FieldError(spec, "statuses["+itoa(i)+"]", fmt.Sprintf("must be a final status, 200..599, got %d", st))
		}
		if why := neverStored(st); why != "" {
			return nil, config.FieldError(spec, "statuses["+itoa(i)+"]", why)
		}
		p.statuses.add(st)
	}
	for k, d := range cfg.StatusTTL {
		st, err := strconv.Atoi(k)
		if err != nil || st < 200 || st > 599 {
			return nil, config.FieldError(spec, "status_ttl."+k, "must be a status, 200..599")
		}
		if why := neverStored(st); why != "" {
			return nil, config.FieldError(spec, "status_ttl."+k, why)
		}
		if d <= 0 {
			return nil, config.FieldError(spec, "status_ttl."+k, "must be > 0")
		}
		if p.statusTTL == nil {
			p.statusTTL = map[int]time.Duration{}
		}
		p.statusTTL[st] = d.Std()
		p.statuses.add(st)
	}
	if len(cfg.Methods) == 0 {
		p.methods = []string{"GET", "HEAD"}
	}
	for i, m := range cfg.Methods {
		m = strings.ToUpper(m)
		switch m {
		case "GET", "HEAD":
		case "POST":
			if !usesParams {
				return nil, config.FieldError(spec, "methods["+itoa(i)+"]", "POST is cacheable only with a key built from declared parameters (param_NAME, or the default key with the params policy)")
			}
		default:
			return nil, config.FieldError(spec, "methods["+itoa(i)+"]", fmt.Sprintf("must be GET, HEAD or POST, got %q", m))
		}
		p.methods = append(p.methods, m)
	}
	if len(cfg.ContentTypes) == 0 {
		p.ctypes = []string{"application/json", "+json"}
	}
	anyType := false
	for i, ct := range cfg.ContentTypes {
		ct, err := contentTypeEntry(ct)
		if err != nil {
			return nil, config.FieldError(spec, "content_types["+itoa(i)+"]", err.Error())
		}
		anyType = anyType || ct == "*"
		p.ctypes = append(p.ctypes, ct)
	}
	if anyType {
		p.ctypes = nil
	}
	for i, name := range cfg.Bypass {
		v, err := engine.ParseVariable(name)
		if err != nil {
			return nil, config.FieldError(spec, "bypass["+itoa(i)+"]", err.Error())
		}
		p.bypass = append(p.bypass, v)
	}
	cachePolicies.Store(p.identity, p) // for PurgeCache
	return p, nil
}

// neverStored says why a final status may not be an entry under the
// request's full key, or "" when it may. (1xx are not final: refused
// with the rest of 100..199.)
func neverStored(status int) string {
	switch status {
	case 206:
		return "206 Partial Content answers one Range request: stored under the full key, a fragment would answer the next client (RFC 9111 §3.3: only a cache that keeps ranges apart may store one)"
	case 304:
		return "304 Not Modified has no content: it tells a client that the copy it has is still good, and is never an entry (RFC 9111 §4.3.4)"
	}
	return ""
}

func (p *cachePolicy) Priority() int { return cachePriority }

func (p *cachePolicy) Install(c *engine.ChainBuilder) error {
	p.state = engine.NewPrivateKey[*cacheReq](c)
	c.Add(engine.PhaseContent, p.content)
	c.Add(engine.PhaseHeaderFilter, p.headerFilter)
	c.Add(engine.PhaseBodyFilter, p.bodyFilter)
	c.Add(engine.PhaseLog, p.log)
	return nil
}

// acquire takes the worker's spare state; log gives it back. Reset on
// reuse, not on release: a hit's body is a view of entry until the
// request ends.
func (p *cachePolicy) acquire(x *engine.Ctx) *cacheReq {
	free := p.free.get(x.WorkerID())
	var st *cacheReq
	if n := len(*free); n > 0 {
		st = (*free)[n-1]
		*free = (*free)[:n-1]
	} else {
		st = &cacheReq{worker: x.WorkerID()}
	}
	*st = cacheReq{worker: st.worker, key: st.key[:0], entry: st.entry[:0], fields: st.fields[:0], store: st.store[:0]}
	engine.Set(x, p.state, st)
	return st
}

func (p *cachePolicy) log(x *engine.Ctx) engine.Status {
	st, ok := engine.Get(x, p.state)
	if !ok || st == nil {
		return engine.Continue
	}
	if st.leads {
		st.leads = false
		p.fills.done(st.key, st, p.wake)
	}
	p.releaseFleetLock(x, st) // the request ended before its response was stored
	st.l2 = nil
	free := p.free.get(st.worker)
	*free = append(*free, st)
	return engine.Continue
}

func (p *cachePolicy) methodCacheable(m []byte) bool {
	for _, a := range p.methods {
		if string(m) == a {
			return true
		}
	}
	return false
}

// bypassed says whether a bypass variable is set.
func (p *cachePolicy) bypassed(x *engine.Ctx) bool {
	if len(p.bypass) == 0 {
		return false
	}
	buf := x.Scratch()
	defer x.ScratchDone(buf)
	for _, v := range p.bypass {
		var ok bool
		buf, ok = v.Append(buf[:0], x)
		if ok && len(buf) > 0 && !(len(buf) == 1 && buf[0] == '0') {
			return true
		}
	}
	return false
}

// content looks the request up: a fresh entry answers it; a miss goes
// upstream as the key's filler, or waits for the filler.
func (p *cachePolicy) content(x *engine.Ctx) engine.Status {
	m := x.MethodName()
	if p.purge && string(m) == "PURGE" {
		return p.purgeEntry(x)
	}
	if !p.methodCacheable(m) {
		return engine.Continue
	}
	st := p.acquire(x)
	st.noStore = x.Method() == http1.MethodHEAD // a HEAD response has no body to store
	if _, ok := x.Header("Authorization"); ok && x.Consumer() == nil {
		st.authorized = true
	}
	st.key = p.appendKey(st.key, x)
	if len(st.key) > shm.MaxKeyLen {
		st.noStore = true
		return engine.Continue
	}
	if p.bypassed(x) {
		st.status = csBypass
		p.count(x, ccBypass)
		return engine.Continue
	}
	return p.lookup(x, st, true)
}

// lookup reads L1, then coalesces the miss (first is false once the
// request waited: it then goes upstream without storing).
func (p *cachePolicy) lookup(x *engine.Ctx, st *cacheReq, first bool) engine.Status {
	now := x.Now()
	v, stale, ok := p.dict.GetStale(st.key, st.entry[:0])
	st.entry = v.Bytes
	if ok && v.Kind == shm.KindBytes {
		if e, err := decodeCacheEntry(st.entry); err == nil {
			if !stale && now < e.freshUntil {
				return p.serve(x, st, &e, csHit, 1)
			}
			if now < e.staleUntil {
				st.hasStale = true
			}
		}
	}
	if !first {
		st.noStore = true
		st.status = csMiss
		return engine.Continue
	}
	st.status = csMiss
	if st.hasStale {
		st.status = csExpired
	}
	if st.hasStale && p.swr > 0 {
		// Someone refreshes it already: serve the stale entry now.
		if p.fills.filling(st.key) {
			if e, err := decodeCacheEntry(st.entry); err == nil && now < e.freshUntil+int64(p.swr) {
				return p.serve(x, st, &e, csStale, 1)
			}
		}
	}
	if !p.fills.lead(st.key, st, x, true, p.lockTimeout, p.wake) {
		p.count(x, ccCoalesced)
		return engine.Suspend
	}
	st.leads = true
	if p.redis != nil {
		return p.lookupL2(x, st)
	}
	p.count(x, ccMisses)
	return engine.Continue
}

// wakeWaiter resumes a request that waited for another's fill: a hit now,
// or upstream without storing.
func (p *cachePolicy) wakeWaiter(x *engine.Ctx) engine.Status {
	st, ok := engine.Get(x, p.state)
	if !ok || st == nil {
		return engine.Continue
	}
	s := p.lookup(x, st, false)
	if s == engine.Continue {
		p.count(x, ccMisses)
	}
	return s
}

// lookupL2 asks Redis off the loop, bounded by l2_timeout; any failure is
// a miss (counted). With lock_scope: fleet, a miss then takes the key's
// fleet lock, or waits for its holder's entry (cache_fill.go).
func (p *cachePolicy) lookupL2(x *engine.Ctx, st *cacheReq) engine.Status {
	// A request that will not store its response (HEAD) does not take
	// the fleet lock: it would only make the other gateways wait.
	if p.fleetLock && !st.noStore {
		st.lockKey, st.lockToken = cacheLockRedisPrefix+string(st.key), newLockToken()
	}
	return p.askL2(x, st)
}

// askL2 reads L2 and, when it misses and the request takes part in the
// fleet lock, tries the lock, in one offload; l2Answer continues on the
// worker. Each poll of a fleet wait is one askL2.
func (p *cachePolicy) askL2(x *engine.Ctx, st *cacheReq) engine.Status {
	key := cacheRedisPrefix + string(st.key)
	lockKey, token := st.lockKey, st.lockToken
	return x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
		r := p.readL2(ctx, key)
		if lockKey != "" && r.err == nil && !r.found {
			r.locked, r.err = p.tryLock(ctx, lockKey, token)
			r.busy = !r.locked && r.err == nil
		}
		return func(x *engine.Ctx) engine.Status { return p.l2Answer(x, r) }
	})
}

// l2Answer acts on what askL2 found: an L2 hit is served (and fills L1
// and wakes the gateway's waiters); the fleet lock taken, a Redis failure,
// a plain miss or a fleet wait past lock_timeout go upstream; a lock held
// by another gateway is waited for.
func (p *cachePolicy) l2Answer(x *engine.Ctx, r l2Result) engine.Status {
	st, ok := engine.Get(x, p.state)
	if !ok || st == nil {
		return engine.Continue
	}
	if r.err != nil {
		p.count(x, ccL2Errors)
	}
	if r.found {
		now := x.Now()
		if e, derr := decodeCacheEntry(r.val); derr == nil && now < e.freshUntil {
			st.l2 = r.val
			// Fill L1 for the rest of the entry's life.
			_ = p.dict.Set(st.key, shm.BytesValue(r.val), time.Duration(e.staleUntil-now))
			s := p.serve(x, st, &e, csHit, 2)
			p.fills.done(st.key, st, p.wake)
			st.leads = false
			return s
		}
	}
	switch {
	case r.locked:
		st.lockHeld = true
	case r.busy:
		if s, waits := p.waitFleet(x, st); waits {
			return s
		}
	}
	p.count(x, ccMisses)
	return engine.Continue
}

// serve answers from an entry (its views must live until the request
// ends: they are st.entry's or st.l2's).
func (p *cachePolicy) serve(x *engine.Ctx, st *cacheReq, e *cacheEntry, status cacheStatus, level byte) engine.Status {
	st.status, st.level, st.served = status, level, true
	f := append(st.fields[:0], e.fields...)
	f = append(f, "Age: "...)
	age := (x.Now() - e.ageOrigin) / int64(time.Second) // the upstream's Age and the time in cache
	f = strconv.AppendInt(f, max(age, 0), 10)
	f = append(f, "\r\nX-Cache-Status: "...)
	f = append(f, cacheStatusFields[status]...)
	if status == csHit {
		f = append(f, "\r\nX-Cache-Level: L"...)
		f = append(f, '0'+level)
		if level == 1 {
			p.count(x, ccHitsL1)
		} else {
			p.count(x, ccHitsL2)
		}
	} else {
		p.count(x, ccStale)
	}
	f = append(f, "\r\n"...)
	st.fields = f
	x.Respond(e.status, f, e.body)
	return engine.Done
}

// headerFilter marks the response and decides whether to store it.
func (p *cachePolicy) headerFilter(x *engine.Ctx) engine.Status {
	st, ok := engine.Get(x, p.state)
	if !ok || st == nil || st.served || st.status == csNone {
		return engine.Continue
	}
	s := p.filterHead(x, st)
	if st.leads && !st.storing {
		// Nothing will be stored: release the waiters now, not after the
		// body.
		st.leads = false
		p.fills.done(st.key, st, p.wake)
	}
	if !st.storing {
		p.releaseFleetLock(x, st) // and the other gateways'
	}
	return s
}

func (p *cachePolicy) filterHead(x *engine.Ctx, st *cacheReq) engine.Status {
	status := x.ResponseStatus()
	if st.hasStale && p.sie > 0 && status >= 500 {
		if e, err := decodeCacheEntry(st.entry); err == nil && x.Now() < e.freshUntil+int64(p.sie) {
			return p.serve(x, st, &e, csStale, 1)
		}
	}
	x.SetResponseHeaderString("X-Cache-Status", cacheStatusFields[st.status])
	if st.noStore || x.IsLocal() || !p.statuses.has(status) {
		return engine.Continue
	}
	fresh, age, ok := p.storable(x, st, status)
	if !ok {
		return engine.Continue
	}
	if cl, ok := x.ResponseHeader("Content-Length"); ok {
		n, err := strconv.ParseInt(string(cl), 10, 64)
		if err != nil || n > p.maxBody {
			p.count(x, ccTooLarge)
			return engine.Continue
		}
		x.BufferResponse(p.maxBody)
	} else {
		x.FilterBody() // the body's length is unknown: collect it as it streams
	}
	now := x.Now()
	keep := max(p.swr, p.sie)
	st.store = appendCacheHead(st.store[:0], status, now-int64(age), now+int64(fresh), now+int64(fresh+keep))
	x.VisitResponseHeaders(func(name, value []byte) bool {
		if storedField(name) {
			st.store = append(st.store, name...)
			st.store = append(st.store, ": "...)
			st.store = append(st.store, value...)
			st.store = append(st.store, "\r\n"...)
		}
		return true
	})
	finishCacheFields(st.store, 0)
	st.storing = true
	return engine.Continue
}

// storedField says whether a response field is kept in an entry.
func storedField(name []byte) bool {
	switch {
	case http1.IsHopByHop(name),
		equalFold(name, "content-length"), equalFold(name, "transfer-encoding"),
		equalFold(name, "set-cookie"), equalFold(name, "age"),
		equalFold(name, "x-cache-status"), equalFold(name, "x-cache-level"):
		return false
	}
	return true
}

// storable applies the response rules (content type, Cache-Control,
// Expires, Set-Cookie, Vary, Authorization) and returns how long the
// response stays fresh from now and its age as it arrived (RFC 9111
// §4.2): the freshness lifetime is s-maxage, else max-age, else Expires
// less Date, else status_ttl or ttl; the upstream's Age counts against
// it. With cache_control: false the headers are not read and ttl counts
// from now; the Age a hit sends still includes the upstream's.
func (p *cachePolicy) storable(x *engine.Ctx, st *cacheReq, status int) (fresh, age time.Duration, ok bool) {
	lifetime := p.ttl
	if d, ok := p.statusTTL[status]; ok {
		lifetime = d
	}
	if p.ctypes != nil {
		ct, _ := x.ResponseHeader("Content-Type")
		if !p.contentTypeOK(ct) {
			return 0, 0, false
		}
	}
	if !p.setCookie {
		if _, ok := x.ResponseHeader("Set-Cookie"); ok {
			return 0, 0, false
		}
	}
	if vary, ok := x.ResponseHeader("Vary"); ok && !p.varyCovered(vary) {
		return 0, 0, false
	}
	shared, explicit := false, false
	if cc, ok := x.ResponseHeader("Cache-Control"); ok {
		d, store, public := cacheControlTTL(cc)
		shared = public
		if p.cacheControl {
			if !store {
				return 0, 0, false
			}
			if d >= 0 {
				lifetime, explicit = d, true
			}
		}
	}
	if st.authorized && !shared {
		// RFC 9111 §3.5: a response to a request with Authorization is
		// stored by a shared cache only when the response says it may be.
		return 0, 0, false
	}
	age = upstreamAge(x)
	if !p.cacheControl {
		return lifetime, age, lifetime > 0
	}
	if exp, ok := x.ResponseHeader("Expires"); ok && !explicit {
		lifetime = expiresLifetime(x, exp) // §5.3: max-age and s-maxage override it
	}
	fresh = lifetime - age
	return fresh, age, fresh > 0
}

func (p *cachePolicy) contentTypeOK(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	for _, a := range p.ctypes {
		switch {
		case a[0] == '+':
			if len(ct) > len(a) && equalFold(ct[len(ct)-len(a):], a) {
				return true
			}
		case strings.HasSuffix(a, "/*"):
			if len(ct) > len(a)-1 && equalFold(ct[:len(a)-1], a[:len(a)-1]) {
				return true
			}
		default:
			if equalFold(ct, a) {
				return true
			}
		}
	}
	return false
}

// varyCovered says whether every field a Vary value names is in the key.
func (p *cachePolicy) varyCovered(vary []byte) bool {
	for len(vary) > 0 {
		var name []byte
		name, vary = cutListItem(vary)
		if len(name) == 0 {
			continue
		}
		if len(name) == 1 && name[0] == '*' {
			return false
		}
		found := false
		for _, h := range p.vary {
			if bytes.EqualFold(h, name) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// cutListItem splits the first item, trimmed, off a comma-separated
// field value.
func cutListItem(v []byte) (item, rest []byte) {
	item = v
	if i := bytes.IndexByte(v, ','); i >= 0 {
		item, rest = v[:i], v[i+1:]
	}
	return bytes.TrimSpace(item), rest
}

// cacheControlTTL reads a response's Cache-Control: store false for
// no-store, no-cache and private; the TTL from s-maxage, else max-age
// (-1 when neither is there); shared when public, s-maxage or
// must-revalidate let a shared cache store an answer to an authorized
// request.
func cacheControlTTL(cc []byte) (ttl time.Duration, store, shared bool) {
	ttl = -1
	var maxAge time.Duration = -1
	for len(cc) > 0 {
		var d []byte
		d, cc = cutListItem(cc)
		name, val := d, []byte(nil)
		if i := bytes.IndexByte(d, '='); i >= 0 {
			name, val = bytes.TrimSpace(d[:i]), bytes.Trim(bytes.TrimSpace(d[i+1:]), `"`)
		}
		switch {
		case equalFold(name, "no-store"), equalFold(name, "no-cache"), equalFold(name, "private"):
			return 0, false, false
		case equalFold(name, "public"), equalFold(name, "must-revalidate"):
			shared = true
		case equalFold(name, "s-maxage"):
			shared = true
			if d, ok := deltaSeconds(val); ok {
				ttl = d
			}
		case equalFold(name, "max-age"):
			if d, ok := deltaSeconds(val); ok {
				maxAge = d
			}
		}
	}
	if ttl < 0 {
		ttl = maxAge
	}
	return ttl, true, shared
}

// maxDeltaSeconds is the largest age a cache directive may give (RFC 9111
// §1.2.2: a larger delta-seconds is taken as 2^31).
const maxDeltaSeconds = 1 << 31

// deltaSeconds reads RFC 9111's delta-seconds (digits only; a sign is not
// one), a value past 2^31 taken as 2^31 seconds: the upstream's number,
// however long, never overflows the Duration (an overflow made "cache
// for 285 years" a TTL in the past, or a random one).
func deltaSeconds(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	n := int64(0)
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int64(c-'0'), maxDeltaSeconds)
	}
	return time.Duration(n) * time.Second, true
}

// bodyFilter collects the body of a response being stored and stores it
// when it is whole.
func (p *cachePolicy) bodyFilter(x *engine.Ctx) engine.Status {
	st, ok := engine.Get(x, p.state)
	if !ok || st == nil || !st.storing {
		return engine.Continue
	}
	chunk := x.BodyChunk()
	if !st.overflow {
		e, _ := decodeCacheEntry(st.store)
		if int64(len(e.body)+len(chunk)) > p.maxBody {
			st.overflow = true // a body of unknown length grew past max_body: it passes, uncached
			p.count(x, ccTooLarge)
		} else {
			st.store = append(st.store, chunk...)
		}
	}
	if !x.BodyEnd() {
		return engine.Continue
	}
	st.storing = false
	if !st.overflow {
		p.storeEntry(x, st)
	}
	p.releaseFleetLock(x, st) // unless storeEntry handed it to the L2 write
	if st.leads {
		st.leads = false
		p.fills.done(st.key, st, p.wake)
	}
	return engine.Continue
}

// storeEntry writes the finished entry to L1 and, off the loop, to L2.
func (p *cachePolicy) storeEntry(x *engine.Ctx, st *cacheReq) {
	e, err := decodeCacheEntry(st.store)
	if err != nil {
		return
	}
	if p.jsonObject {
		b := bytes.TrimSpace(e.body)
		if len(b) == 0 || b[0] != '{' || !validJSON(b, 512) {
			return
		}
	}
	// The entry's life runs from now: its age origin lies before the
	// store by the upstream's Age. A body slower than the freshness left
	// is not stored.
	life := time.Duration(e.staleUntil - x.Now())
	if life <= 0 {
		return
	}
	if err := p.dict.Set(st.key, shm.BytesValue(st.store), life); err != nil {
		p.count(x, ccStoreErrors)
		return
	}
	p.count(x, ccStores)
	if p.redis == nil {
		return
	}
	key := cacheRedisPrefix + string(st.key)
	val := append([]byte(nil), st.store...)
	rc, stats, worker := p.redis, p.stats, x.WorkerID()
	failed := p.metrics[cacheFamStores].OffLoop(x)
	// The fleet lock goes after the entry is in L2: released before, a
	// waiting gateway could find neither and fetch again.
	lockKey, token := st.lockKey, st.lockToken
	if !st.lockHeld {
		lockKey = ""
	}
	if !x.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cacheL2WriteTimeout)
		defer cancel()
		if err := rc.SetPX(ctx, key, val, life); err != nil {
			stats.addWorker(worker, ccL2WriteErrors)
			failed.Add(cacheMetricOf[ccL2WriteErrors].value, 1)
		}
		if lockKey != "" {
			p.unlockL2(lockKey, token)
		}
	}) {
		p.count(x, ccL2WriteErrors)
		return // the lock, if any, expires after lock_timeout
	}
	st.lockHeld = false
}

// purgeEntry deletes the request's entry (as GET would find it) from L1
// and L2: 200 when L1 held it, 404 otherwise.
func (p *cachePolicy) purgeEntry(x *engine.Ctx) engine.Status {
	st := p.acquire(x)
	st.key = p.appendKeyAs(st.key, x)
	found := p.dict.Delete(st.key)
	msg := purgedBody
	status := 200
	if !found {
		status, msg = 404, notPurgedBody
	}
	if p.redis == nil {
		x.Respond(status, jsonContentType, msg)
		return engine.Done
	}
	key := cacheRedisPrefix + string(st.key)
	return x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
		ctx, cancel := context.WithTimeout(ctx, p.l2Timeout*4)
		defer cancel()
		n, err := redisDel(ctx, p.redis, key)
		return func(x *engine.Ctx) engine.Status {
			switch {
			case err != nil:
				x.RespondError(502, "cache: the L2 entry could not be purged: "+err.Error())
			case n > 0 || found:
				x.Respond(200, jsonContentType, purgedBody)
			default:
				x.Respond(404, jsonContentType, notPurgedBody)
			}
			return engine.Done
		}
	})
}

var (
	purgedBody    = []byte(`{"purged":true}` + "\n")
	notPurgedBody = []byte(`{"purged":false}` + "\n")
)

// appendKeyAs is the key of a GET of the purged request's target.
func (p *cachePolicy) appendKeyAs(dst []byte, x *engine.Ctx) []byte {
	return p.appendKey(dst, x) // PURGE is not POST: the GET class
}

func redisDel(ctx context.Context, c *redis.Client, key string) (int64, error) {
	b, err := c.B()
	if err != nil {
		return 0, err
	}
	msg, err := c.Do(ctx, b.Del().Key(key).Build())
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	if err != nil {
		return 0, errors.New("unexpected DEL reply")
	}
	return n, nil
}
