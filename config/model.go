package config

import "go.yaml.in/yaml/v3"

// Config is one complete gateway configuration. Parse and Load return it
// validated and with every default filled in; a Config built in Go should be
// passed through Validate before use, which fills the same defaults.
//
// Zero values are useful: an empty Config validates into a gateway listening
// on ":8080" with no upstreams and no routes.
//
// A Config is not safe for concurrent mutation (Validate mutates it too);
// once validated and no longer changed, any number of goroutines may read it.
type Config struct {
	// Listen is the address the gateway accepts clients on, host:port.
	// Default ":8080". Port 0 asks the kernel for a free port (tests).
	Listen string `yaml:"listen"`
	// Workers is the number of event loops, 0..1024. Default 0: one per
	// GOMAXPROCS.
	Workers int `yaml:"workers"`
	// DrainTimeout is how long a SIGTERM'd gateway lets in-flight requests
	// finish before it closes what is left. Default 30s.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// LogLevel is one of debug, info, warn, error. Default "info".
	LogLevel string `yaml:"log_level"`
	// LogFormat is the event log's format: text (slog's key=value lines)
	// or json (one object per line). Default "text".
	LogFormat string `yaml:"log_format,omitempty"`
	// SharedDicts declares the shared dicts (package shm) by name with their
	// byte capacity, at least shm.MinCapacity. Default: none.
	SharedDicts map[string]Size `yaml:"shared_dicts,omitempty"`
	// Client holds the limits and timeouts applied to client connections.
	Client Client `yaml:"client"`
	// Upstreams are the groups of targets routes proxy to.
	Upstreams []Upstream `yaml:"upstreams,omitempty"`
	// Routes map requests to upstreams and policies. Default: none, every
	// request is answered 404 by the engine.
	Routes RouteList `yaml:"routes,omitempty"`
	// GlobalPolicies run on every route, before the route's own policies of
	// the same priority.
	GlobalPolicies []PolicySpec `yaml:"global_policies,omitempty"`
	// Redis configures the process's one Redis client, shared by the
	// policies that keep state in Redis. Default nil: no client.
	Redis *Redis `yaml:"redis,omitempty"`
	// Admin is the operators' listener (/metrics, /status); admin.go.
	Admin Admin `yaml:"admin"`
	// AccessLog configures the request log; nil keeps the stderr log
	// (log.go).
	AccessLog *AccessLog `yaml:"access_log,omitempty"`
	// Trace configures W3C trace context (log.go).
	Trace Trace `yaml:"trace"`
	// Consul is the agent discovery sources watch (consul.go). Default nil:
	// no upstream may use discovery.
	Consul *Consul `yaml:"consul,omitempty"`
	// Consumers are who requests are from once an auth policy checked
	// their credentials (consumers.go). Default: none.
	Consumers []Consumer `yaml:"consumers,omitempty"`
	// ConfigSource says where the fleet part of the configuration comes
	// from: this file (the default) or Consul KV (fleet.go).
	ConfigSource ConfigSource `yaml:"config_source,omitempty"`

	// src remembers where each decoded value came from, for error messages.
	// Nil for a Config built in Go or made by an edit.
	src *source
	// revs are the revisions of its parts (rev.go); nil until validated.
	revs *revisions
}

// Client holds the client-side limits. Every zero field means its default.
type Client struct {
	// HeaderTimeout bounds the time the whole request head may take to
	// arrive (slowloris defence). Default 10s.
	HeaderTimeout Duration `yaml:"header_timeout"`
	// BodyTimeout bounds the gap between two reads of a request body.
	// Default 60s.
	BodyTimeout Duration `yaml:"body_timeout"`
	// KeepaliveTimeout is how long an idle keep-alive connection is kept.
	// Default 75s.
	KeepaliveTimeout Duration `yaml:"keepalive_timeout"`
	// PolicyTimeout bounds each time a policy suspends a request for off-loop
	// work (Redis, an auth server, reading the request body is bounded by
	// BodyTimeout instead): past it the client gets a 504. Default: the
	// value of HeaderTimeout.
	PolicyTimeout Duration `yaml:"policy_timeout"`
	// MaxHeadBytes caps the request line plus headers. Default 16KiB; must
	// be between 1KiB and 1MiB.
	MaxHeadBytes Size `yaml:"max_head_bytes"`
	// MaxFields caps the number of header fields. Default 100; 1..10000.
	MaxFields int `yaml:"max_fields"`
	// MaxBody is the request-body cap of routes that set none.
	// Default 0: unlimited.
	MaxBody Size `yaml:"max_body"`
}

// Balancer names accepted by Upstream.Balancer.
const (
	BalancerRoundRobin = "round_robin" // smooth weighted round-robin (nginx)
	BalancerLeastConn  = "least_conn"  // fewest in-flight requests, weighted
	BalancerHash       = "hash"        // consistent hash of Upstream.HashOn
	BalancerEWMA       = "ewma"        // peak-EWMA latency
	BalancerP2C        = "p2c"         // power of two random choices
)

// Upstream is a named group of targets with its balancing, pooling, timeout,
// retry and health settings.
type Upstream struct {
	// Name is referenced by Route.Upstream. Required; [a-zA-Z0-9_.-]+,
	// unique among upstreams.
	Name string `yaml:"name"`
	// Targets are the servers of the group. At least one is required,
	// unless Discovery is set (then they serve until its first answer).
	Targets []Target `yaml:"targets"`
	// Discovery makes the group follow Consul (consul.go). Default nil:
	// the static targets only.
	Discovery *Discovery `yaml:"discovery,omitempty"`
	// Balancer picks a target: round_robin, least_conn, hash, ewma or p2c.
	// Default "round_robin".
	Balancer string `yaml:"balancer"`
	// HashOn is the hash key of the "hash" balancer, required by it and
	// refused by the others: ip | header:NAME | cookie:NAME | uri | arg:NAME |
	// consumer. ParseHashOn splits it.
	HashOn string `yaml:"hash_on,omitempty"`
	// Pool sizes the keep-alive pool to each target.
	Pool Pool `yaml:"pool"`
	// Timeouts bound each phase of an upstream exchange.
	Timeouts Timeouts `yaml:"timeouts"`
	// Retries says when a failed attempt moves to another target.
	Retries Retries `yaml:"retries"`
	// Health configures passive and active health checks.
	Health Health `yaml:"health"`
}

// Target is one server of an upstream.
type Target struct {
	// Addr is host:port; the port must be 1..65535. Required.
	Addr string `yaml:"addr"`
	// Weight is the target's share for weighted balancers, 1..1000.
	// Absent (or 0 in a Config built in Go) means 1; an explicit
	// "weight: 0" in YAML is an error, since it most likely meant "drain",
	// which Sluice does through health, not weight.
	Weight int `yaml:"weight"`
	// Down takes the target out of balancing while keeping it listed
	// (nginx's down): an operator's drain. Default false.
	Down bool `yaml:"down,omitempty"`
	// Backup makes the target one that gets requests only when no other
	// target is available (nginx's backup); refused by the hash balancer.
	// Default false.
	Backup bool `yaml:"backup,omitempty"`
	// MaxFails overrides the upstream's health.passive.max_fails for this
	// target (-1 turns the rule off for it). Default 0: the upstream's.
	MaxFails int `yaml:"max_fails,omitempty"`
	// FailTimeout overrides the upstream's health.passive.fail_timeout for
	// this target. Default 0: the upstream's.
	FailTimeout Duration `yaml:"fail_timeout,omitempty"`
}

// Pool sizes the keep-alive pool of each target. The pool is per worker per
// target: a gateway with W workers keeps up to W*MaxIdle idle connections to
// one target.
type Pool struct {
	// MaxIdle is the number of idle connections kept. Default 64; -1 keeps
	// none (a new connection per request).
	MaxIdle int `yaml:"max_idle"`
	// IdleTimeout closes a connection idle for that long. Default 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxRequests retires a connection after that many requests.
	// Default 1000; -1 means no limit.
	MaxRequests int `yaml:"max_requests"`
}

// Timeouts bound an upstream exchange. Zero fields mean their default.
type Timeouts struct {
	// Connect bounds dialing a target. Default 5s.
	Connect Duration `yaml:"connect"`
	// Send bounds the gap between two writes of the request. Default 60s.
	Send Duration `yaml:"send"`
	// Read bounds the gap between two reads of the response. Default 60s.
	Read Duration `yaml:"read"`
}

// Retry conditions accepted by Retries.On.
const (
	RetryOnConnect       = "connect"        // dialing the target failed
	RetryOnTimeout       = "timeout"        // connect, send or read timed out before the response head
	RetryOnError         = "error"          // the connection failed after connect, before the response head
	RetryOnInvalidHeader = "invalid_header" // the target sent an unparsable response head
)

// Retries says when an attempt that failed is tried again on another target.
// A request whose body was already partly streamed is never retried.
type Retries struct {
	// Tries is the total number of attempts, the first included, 1..16 (the balancer tracks up to 16 tried targets).
	// Default 2; 1 turns retries off.
	Tries int `yaml:"tries"`
	// PerTryTimeout bounds one attempt from dial to the end of the response
	// head. Default 0: only Timeouts apply.
	PerTryTimeout Duration `yaml:"per_try_timeout"`
	// On lists the failures that are retried: connect, timeout, error,
	// invalid_header. Absent: [connect, timeout, error] (nginx's "error timeout"); an explicit empty list
	// retries on statuses only.
	On []string `yaml:"on"`
	// Statuses lists response statuses (400..599) that are retried.
	// Absent: [502, 503, 504]; an explicit empty list retries none.
	Statuses []int `yaml:"statuses"`
	// Budget caps retries to this share of the upstream's requests, in
	// (0, 1]. Default 0.2.
	Budget float64 `yaml:"budget"`
	// NonIdempotent allows retrying POST, PATCH and other non-idempotent
	// methods. Default false.
	NonIdempotent bool `yaml:"non_idempotent"`
}

// Health configures target health.
type Health struct {
	// Passive counts failures of real traffic.
	Passive Passive `yaml:"passive"`
	// Active, when set, probes every target periodically. Absent: no probes.
	Active *Active `yaml:"active,omitempty"`
	// MaxEjectedPercent caps the share of targets that health may take out,
	// 1..100. Default 50.
	MaxEjectedPercent int `yaml:"max_ejected_percent"`
	// PanicThreshold: when the healthy share of targets falls below it, the
	// balancer ignores health and uses every target, in (0, 1]. Default 0.5.
	PanicThreshold float64 `yaml:"panic_threshold"`
}

// Passive health: nginx's max_fails/fail_timeout plus an optional outlier rule.
type Passive struct {
	// MaxFails failures within FailTimeout mark a target down for
	// FailTimeout. Default 1; -1 turns the rule off.
	MaxFails int `yaml:"max_fails"`
	// FailTimeout is both the counting window and the down time. Default 10s.
	FailTimeout Duration `yaml:"fail_timeout"`
	// Consecutive5xx ejects a target after that many 5xx responses in a row.
	// Default 0: off.
	Consecutive5xx int `yaml:"consecutive_5xx"`
}

// Active probe types accepted by Active.Type.
const (
	ProbeHTTP = "http" // GET Path, healthy when the status is in Statuses
	ProbeTCP  = "tcp"  // healthy when a connection opens
)

// Active health probes. Present in YAML turns probing on; zero fields mean
// their default.
type Active struct {
	// Type is "http" or "tcp". Default "http".
	Type string `yaml:"type"`
	// Path is the HTTP probe's request target. Default "/healthz".
	Path string `yaml:"path"`
	// Host is the HTTP probe's Host header. Default "": the target's address.
	Host string `yaml:"host"`
	// Interval between two probes of a target. Default 5s.
	Interval Duration `yaml:"interval"`
	// Timeout of one probe; must not exceed Interval. Default 1s.
	Timeout Duration `yaml:"timeout"`
	// Statuses that count as healthy (100..599). Default [200].
	Statuses []int `yaml:"statuses"`
	// Healthy successes in a row bring a target back. Default 2.
	Healthy int `yaml:"healthy"`
	// Unhealthy failures in a row take a target out. Default 3.
	Unhealthy int `yaml:"unhealthy"`
}

// Values of Route.Host besides a literal host.
const (
	HostPass     = "pass"     // forward the client's Host header
	HostUpstream = "upstream" // send the chosen target's address
)

// Route maps the requests it matches to an upstream, through its policies.
type Route struct {
	// Name identifies the route in logs and the Admin API; unique when
	// set. Default "routes[i]" (its position).
	Name string `yaml:"name"`
	// Match selects the requests of this route.
	Match Match `yaml:"match"`
	// Upstream names the upstream requests are proxied to. Optional here: a
	// route answered by a terminating policy (such as "response") has none,
	// and only the engine, which knows the policies, can tell; an upstream
	// that is set must exist.
	Upstream string `yaml:"upstream,omitempty"`
	// Host is the Host header sent upstream: "pass" (the client's),
	// "upstream" (the target's address) or a literal host[:port].
	// Default "pass".
	Host string `yaml:"host"`
	// MaxBody caps the request body. Default 0: Client.MaxBody.
	MaxBody Size `yaml:"max_body"`
	// StripPrefix removes the matched prefix of a "/x/*" path before
	// proxying ("/api/*" turns "/api/users" into "/users", "/api" into "/").
	// Requires at least one prefix path. Default false.
	StripPrefix bool `yaml:"strip_prefix"`
	// Policies of this route, in any order: the engine orders them by
	// priority.
	Policies []PolicySpec `yaml:"policies,omitempty"`
	// Log says whether the route's requests reach the access log: on,
	// off, or a sample of its successes (log.go). Default nil: on, as
	// access_log says.
	Log *RouteLog `yaml:"log,omitempty"`
}

// Match selects requests. Every list left empty matches anything; the rules
// of each pattern are those of package router.
type Match struct {
	// Hosts: "api.example.com" (exact), "*.example.com" (any subdomain) or
	// "*". Matched without the port and case-insensitively.
	Hosts []string `yaml:"hosts,omitempty"`
	// Paths: "/x/*" (prefix: /x, /x/ and /x/...), "/users/{id}" ({name}
	// matches one non-empty segment), anything else is exact. Empty: "/*".
	Paths []string `yaml:"paths,omitempty"`
	// Methods: request methods, case-sensitive ("GET", not "get").
	Methods []string `yaml:"methods,omitempty"`
}

// PolicySpec names a policy and carries its configuration undecoded: the
// policy's factory decodes Config with DecodePolicyConfig into its own type.
type PolicySpec struct {
	// Name of a registered policy: [a-z0-9_-]+. Required.
	Name string `yaml:"name"`
	// ID names this instance of the policy in its scope, [a-zA-Z0-9_.-]+.
	// Optional, unless the scope has the same policy twice. State that
	// outlives a request (counters, caches) is keyed by the scope and the
	// id (or the name without one), never by a position in the file.
	ID string `yaml:"id,omitempty"`
	// Config is the policy's configuration as written; zero when absent.
	Config yaml.Node `yaml:"config,omitempty"`
	// Line is the line of the policy in File; 0 for a spec built in Go.
	Line int `yaml:"-"`
	// Path is the spec's place in the Config, "routes[0].policies[1]" or
	// "global_policies[2]"; errors about the policy start with it.
	Path string `yaml:"-"`
	// File is the file the spec was read from; "" for a spec built in Go.
	File string `yaml:"-"`
}

// Identity is the policy's name in its scope: its ID, else its Name.
func (s *PolicySpec) Identity() string {
	if s.ID != "" {
		return s.ID
	}
	return s.Name
}
