package lb

import (
	"fmt"
	"math"
	"time"
)

// BalancerKind names a picking algorithm. The names match the "balancer"
// field of the declarative config.
type BalancerKind string

// Balancers known to NewUpstream.
const (
	// RoundRobin is nginx's smooth weighted round-robin. The default.
	RoundRobin BalancerKind = "round_robin"
	// LeastConn picks the fewest in-flight requests per unit of weight;
	// ties go round-robin by weight (nginx's least_conn).
	LeastConn BalancerKind = "least_conn"
	// Hash is consistent hashing of a request key on a Maglev table.
	Hash BalancerKind = "hash"
	// PeakEWMA draws two targets by weight and keeps the one with the lower
	// peak-EWMA latency times (in-flight+1) (Finagle, Linkerd).
	PeakEWMA BalancerKind = "ewma"
	// P2C draws two targets by weight and keeps the one with fewer
	// in-flight requests per unit of weight.
	P2C BalancerKind = "p2c"
)

// EWMAConfig tunes the latency estimate every target keeps.
type EWMAConfig struct {
	// Decay is the time constant of the moving average: an observation
	// counts e^-1 as much after Decay has passed. Default 10s.
	Decay time.Duration
	// DefaultRTT is the estimate of a target that has not answered yet:
	// PeakEWMA charges it per attempt in flight on such a target. Default
	// 30ms.
	DefaultRTT time.Duration
}

// PassiveConfig is health learned from real traffic, reported through
// Target.End.
type PassiveConfig struct {
	// MaxFails failures within FailTimeout mark a target down for
	// FailTimeout (nginx's max_fails). A failure is a connect failure, a
	// timeout, an I/O error, an invalid response head, or a status in
	// FailStatuses. Default 1; -1 turns the rule off. TargetSpec.MaxFails
	// overrides it per target.
	MaxFails int
	// FailTimeout is both the counting window of MaxFails and the down
	// time. Default 10s. TargetSpec.FailTimeout overrides it per target.
	FailTimeout time.Duration
	// FailStatuses are response statuses that count as failures for
	// MaxFails. Default none (nginx counts only errors and timeouts).
	FailStatuses []int
	// Consecutive5xx ejects a target after that many 5xx responses,
	// connect failures or timeouts in a row (Envoy's consecutive_5xx).
	// Default 0: off.
	Consecutive5xx int
	// ConsecutiveGatewayErrors ejects a target after that many connect
	// failures, timeouts, I/O errors or 502/503/504 in a row (Envoy's
	// consecutive_gateway_failure). Default 0: off.
	ConsecutiveGatewayErrors int
	// EjectionTime is how long the first consecutive-error ejection of a
	// target lasts; each further ejection without a success in between
	// lasts one EjectionTime more. Default 30s.
	EjectionTime time.Duration
	// MaxEjectionTime caps an ejection. Default 300s.
	MaxEjectionTime time.Duration
}

// ProbeKind names an active health probe.
type ProbeKind string

// Probes known to ActiveConfig.Type.
const (
	// ProbeOff runs no probes. The default.
	ProbeOff ProbeKind = ""
	// ProbeHTTP sends GET Path with Host and expects a status in Statuses.
	ProbeHTTP ProbeKind = "http"
	// ProbeTCP expects a TCP connection to open.
	ProbeTCP ProbeKind = "tcp"
)

// ActiveConfig is health learned by probing targets from goroutines, off
// the event loops (Upstream.StartHealthChecks, Upstream.CheckNow).
type ActiveConfig struct {
	// Type of probe. Default ProbeOff.
	Type ProbeKind
	// Path is the HTTP probe's request target. Default "/healthz".
	Path string
	// Host is the HTTP probe's Host header. Default "": the target's
	// address.
	Host string
	// Interval between two probe rounds. Default 5s.
	Interval time.Duration
	// Timeout of one probe, dial included; at most Interval. Default 1s.
	Timeout time.Duration
	// Statuses that count as healthy. Default [200].
	Statuses []int
	// Healthy successes in a row bring a target back. Default 2.
	Healthy int
	// Unhealthy failures in a row take a target out. Default 3.
	Unhealthy int
	// KeepPassiveEjection keeps a passive or outlier ejection in force when
	// a probe succeeds. Default false: a successful probe lifts it (Envoy's
	// successful_active_health_check_uneject_host).
	KeepPassiveEjection bool
}

// RetryOn is a set of failures that Upstream.ShouldRetry retries.
type RetryOn uint8

// Retry conditions; combine with |.
const (
	// RetryOnConnect: dialing the target failed.
	RetryOnConnect RetryOn = 1 << iota
	// RetryOnTimeout: connect, send or read timed out before the response head.
	RetryOnTimeout
	// RetryOnError: the connection failed after connect, before the
	// response head.
	RetryOnError
	// RetryOnInvalidHeader: the target sent an unparsable response head.
	RetryOnInvalidHeader
	// RetryOnNone retries on no failure (statuses only); it exists because
	// the zero RetryOn means the default.
	RetryOnNone RetryOn = 1 << 7
)

// MaxTries bounds RetryConfig.Tries and is the capacity of Tried.
const MaxTries = 16

// RetryConfig says when a failed attempt is tried again on another target.
type RetryConfig struct {
	// Tries is the total number of attempts, the first included. Default 2;
	// 1 turns retries off; values above MaxTries count as MaxTries.
	Tries int
	// PerTryTimeout bounds one attempt from dial to the end of the response
	// head; the engine enforces it with its timer wheel. Default 0: only the
	// engine's upstream timeouts apply.
	PerTryTimeout time.Duration
	// On lists the failures that are retried. Default (zero):
	// RetryOnConnect|RetryOnTimeout.
	On RetryOn
	// Statuses lists response statuses that are retried. Default (nil):
	// 502, 503, 504; a non-nil empty slice retries none.
	Statuses []int
	// NonIdempotent allows retrying POST, PATCH and other non-idempotent
	// methods. Default false.
	NonIdempotent bool
	// Budget caps retries to this share of the upstream's requests over the
	// last 10 seconds, in (0, 1]. Default 0.2; negative turns the budget off.
	Budget float64
	// MinRetriesPerSecond is allowed on top of the Budget share, so a quiet
	// upstream can still retry. Default 10; -1 means none.
	MinRetriesPerSecond int
}

// Config of an Upstream. The zero Config is useful: smooth weighted
// round-robin, nginx's passive health (max_fails=1, fail_timeout=10s), no
// probes, 2 tries on connect failure and timeout under a 20% retry budget,
// panic mode below half the targets healthy.
type Config struct {
	// Balancer picks targets. Default RoundRobin.
	Balancer BalancerKind
	// HashOn says which request key the engine passes to Picker.Pick for the
	// Hash balancer. Default: the client IP.
	HashOn HashKeySpec
	// HashTableSize is the Maglev table size; it must be a prime larger
	// than the number of targets. Default: the smallest prime at least
	// max(65537, 100×targets), recomputed as targets change.
	HashTableSize int
	// EWMA tunes the latency estimate of targets.
	EWMA EWMAConfig
	// Passive health from real traffic.
	Passive PassiveConfig
	// Active health probes.
	Active ActiveConfig
	// MaxEjectedPercent caps the share of targets that passive health and
	// outlier ejection may take out at once, 1..100; one target may always
	// be taken out. The share is of the targets not admin-down, backups
	// included. Active probes are not capped: they are positive
	// evidence. Default 50.
	MaxEjectedPercent int
	// PanicThreshold: when the healthy share of targets falls below it, the
	// balancer ignores health and uses every target, in (0, 1]. The share
	// is of the primary targets not admin-down, and a healthy backup
	// prevents panic (see the package doc). Default 0.5; negative turns
	// panic mode off.
	PanicThreshold float64
	// PanicWhenAllDown extends panic mode to the case where no target is
	// healthy. Default false: Pick returns ErrAllDown at once.
	PanicWhenAllDown bool
	// Retry policy.
	Retry RetryConfig
	// Clock returns the current time; tests drive it. It must be safe for
	// concurrent use and never go backwards. Default (nil): a shared coarse
	// monotonic clock updated every millisecond (see clock.go), because
	// time.Now on every pick and End would cost more than the pick.
	Clock func() time.Time
}

// normalized returns c with every default filled in, or an error wrapping
// ErrConfig or ErrUnknownBalancer.
func (c Config) normalized() (Config, error) {
	switch c.Balancer {
	case "":
		c.Balancer = RoundRobin
	case RoundRobin, LeastConn, Hash, PeakEWMA, P2C:
	default:
		return c, fmt.Errorf("%w %q", ErrUnknownBalancer, c.Balancer)
	}
	if c.HashOn.Source > HashOnConsumer {
		return c, fmt.Errorf("%w: hash source %d", ErrConfig, c.HashOn.Source)
	}
	if c.HashTableSize != 0 && (c.HashTableSize < 2 || !isPrime(uint64(c.HashTableSize))) {
		return c, fmt.Errorf("%w: hash table size %d is not a prime", ErrConfig, c.HashTableSize)
	}
	if err := positiveOr(&c.EWMA.Decay, 10*time.Second, "ewma decay"); err != nil {
		return c, err
	}
	if err := positiveOr(&c.EWMA.DefaultRTT, 30*time.Millisecond, "ewma default rtt"); err != nil {
		return c, err
	}

	p := &c.Passive
	switch {
	case p.MaxFails == 0:
		p.MaxFails = 1
	case p.MaxFails < -1:
		return c, fmt.Errorf("%w: max_fails %d", ErrConfig, p.MaxFails)
	}
	if err := positiveOr(&p.FailTimeout, 10*time.Second, "fail_timeout"); err != nil {
		return c, err
	}
	if err := statusesOK(p.FailStatuses, "fail statuses"); err != nil {
		return c, err
	}
	if p.Consecutive5xx < 0 || p.ConsecutiveGatewayErrors < 0 {
		return c, fmt.Errorf("%w: consecutive error counts must not be negative", ErrConfig)
	}
	if err := positiveOr(&p.EjectionTime, 30*time.Second, "ejection time"); err != nil {
		return c, err
	}
	if err := positiveOr(&p.MaxEjectionTime, 300*time.Second, "max ejection time"); err != nil {
		return c, err
	}
	if p.MaxEjectionTime < p.EjectionTime {
		p.MaxEjectionTime = p.EjectionTime
	}

	a := &c.Active
	switch a.Type {
	case ProbeOff, ProbeHTTP, ProbeTCP:
	default:
		return c, fmt.Errorf("%w: probe type %q", ErrConfig, a.Type)
	}
	if a.Path == "" {
		a.Path = "/healthz"
	}
	if a.Path[0] != '/' {
		return c, fmt.Errorf("%w: probe path %q must start with /", ErrConfig, a.Path)
	}
	if err := positiveOr(&a.Interval, 5*time.Second, "probe interval"); err != nil {
		return c, err
	}
	if err := positiveOr(&a.Timeout, time.Second, "probe timeout"); err != nil {
		return c, err
	}
	if a.Timeout > a.Interval {
		return c, fmt.Errorf("%w: probe timeout %v exceeds interval %v", ErrConfig, a.Timeout, a.Interval)
	}
	if a.Statuses == nil {
		a.Statuses = []int{200}
	}
	if err := statusesOK(a.Statuses, "probe statuses"); err != nil {
		return c, err
	}
	if a.Healthy == 0 {
		a.Healthy = 2
	}
	if a.Unhealthy == 0 {
		a.Unhealthy = 3
	}
	if a.Healthy < 0 || a.Unhealthy < 0 {
		return c, fmt.Errorf("%w: probe thresholds must be positive", ErrConfig)
	}

	switch {
	case c.MaxEjectedPercent == 0:
		c.MaxEjectedPercent = 50
	case c.MaxEjectedPercent < 0 || c.MaxEjectedPercent > 100:
		return c, fmt.Errorf("%w: max ejected percent %d", ErrConfig, c.MaxEjectedPercent)
	}
	switch {
	case c.PanicThreshold == 0:
		c.PanicThreshold = 0.5
	case c.PanicThreshold < 0:
		c.PanicThreshold = 0
	case c.PanicThreshold > 1 || math.IsNaN(c.PanicThreshold):
		return c, fmt.Errorf("%w: panic threshold %v", ErrConfig, c.PanicThreshold)
	}

	r := &c.Retry
	switch {
	case r.Tries == 0:
		r.Tries = 2
	case r.Tries < 0:
		return c, fmt.Errorf("%w: tries %d", ErrConfig, r.Tries)
	case r.Tries > MaxTries:
		r.Tries = MaxTries
	}
	if r.PerTryTimeout < 0 {
		return c, fmt.Errorf("%w: per-try timeout %v", ErrConfig, r.PerTryTimeout)
	}
	if r.On == 0 {
		r.On = RetryOnConnect | RetryOnTimeout
	}
	if r.Statuses == nil {
		r.Statuses = []int{502, 503, 504}
	}
	if err := statusesOK(r.Statuses, "retry statuses"); err != nil {
		return c, err
	}
	switch {
	case r.Budget == 0:
		r.Budget = 0.2
	case r.Budget > 1 || math.IsNaN(r.Budget):
		return c, fmt.Errorf("%w: retry budget %v", ErrConfig, r.Budget)
	}
	switch {
	case r.MinRetriesPerSecond == 0:
		r.MinRetriesPerSecond = 10
	case r.MinRetriesPerSecond == -1:
		r.MinRetriesPerSecond = 0
	case r.MinRetriesPerSecond < -1:
		return c, fmt.Errorf("%w: min retries per second %d", ErrConfig, r.MinRetriesPerSecond)
	}

	return c, nil
}

func positiveOr(d *time.Duration, def time.Duration, name string) error {
	switch {
	case *d == 0:
		*d = def
	case *d < 0:
		return fmt.Errorf("%w: %s %v", ErrConfig, name, *d)
	}
	return nil
}

func statusesOK(statuses []int, name string) error {
	for _, s := range statuses {
		if s < 100 || s > 599 {
			return fmt.Errorf("%w: %s: %d is not an HTTP status", ErrConfig, name, s)
		}
	}
	return nil
}

func hasStatus(statuses []int, status int) bool {
	for _, s := range statuses {
		if s == status {
			return true
		}
	}
	return false
}
