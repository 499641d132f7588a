package lb

import (
	"sync"
	"sync/atomic"
	"time"
)

// TargetSpec describes one server of an upstream, as configured or
// discovered: nginx's server line, "server addr weight=N max_fails=N
// fail_timeout=T [backup] [down]", which nginx-upsync also carries in
// Consul KV. Upstream.Update applies it; a target whose address stays keeps
// its health and counters whatever else changes.
type TargetSpec struct {
	// Addr is host:port. Required.
	Addr string
	// Weight is the target's share for weighted balancers, 1..1000000.
	// Default (0) 1.
	Weight int
	// Down takes the target out by the operator's choice (nginx's down,
	// a drain): it stays listed in the snapshot and the status, but it is
	// never picked, not probed, and counts neither as healthy nor as
	// unhealthy in the panic threshold and MaxEjectedPercent arithmetic.
	// Default false.
	Down bool
	// Backup makes the target a backup (nginx's backup): backups are picked
	// only when no primary target can be (every primary is down by health,
	// admin-down, or already tried by the request), and are balanced among
	// themselves by the upstream's balancer. Refused with the Hash balancer,
	// as nginx refuses it with hash. Default false.
	Backup bool
	// MaxFails overrides Config.Passive.MaxFails for this target (nginx's
	// server max_fails): 0 uses the upstream's value, -1 turns the rule off
	// for this target, else 1..1000000.
	MaxFails int
	// FailTimeout overrides Config.Passive.FailTimeout for this target
	// (nginx's server fail_timeout): both the counting window of MaxFails
	// and the down time. 0 uses the upstream's value.
	FailTimeout time.Duration
}

// Outcome is what happened to one attempt on a target, reported through
// Target.End.
type Outcome struct {
	// Latency from the start of the attempt (dial included) to the response
	// head, or to the failure.
	Latency time.Duration
	// ConnectFailed: dialing the target failed.
	ConnectFailed bool
	// TimedOut: connect, send or read timed out before the response head.
	TimedOut bool
	// IOError: the connection failed after connect, before the response
	// head.
	IOError bool
	// InvalidHeader: the target sent an unparsable response head.
	InvalidHeader bool
	// Status of the response head; 0 when there was none.
	Status int
}

// localFailure reports an attempt that got no usable response head.
func (o Outcome) localFailure() bool {
	return o.ConnectFailed || o.TimedOut || o.IOError || o.InvalidHeader
}

// gatewayError is Envoy's gateway failure: the target could not be
// reached or answered as a gateway that could not reach its own backend.
func (o Outcome) gatewayError() bool {
	return o.ConnectFailed || o.TimedOut || o.IOError || (o.Status >= 502 && o.Status <= 504)
}

// is5xx counts local failures as 5xx, as Envoy's consecutive_5xx does.
func (o Outcome) is5xx() bool {
	return o.localFailure() || o.Status >= 500
}

// downReason says why a target is out of rotation, for the status view.
type downReason uint32

const (
	downNone downReason = iota
	downMaxFails
	downConsecutive5xx
	downConsecutiveGateway
)

var downReasonNames = [...]string{"", "max_fails", "consecutive_5xx", "consecutive_gateway_errors"}

// Target is one server of an upstream and all the health and load state the
// balancers read. A *Target lives as long as some snapshot lists its address:
// Upstream.Update hands the same *Target to the next snapshot when the address
// stays, so in-flight counts, latency and health carry over.
//
// Target is safe for concurrent use: the balancer reads and the counters
// Begin and End write are atomics. It must not be copied.
type Target struct {
	_ noCopy

	// Addr is host:port; it never changes.
	Addr string

	core *core

	inflight atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64

	// downUntil is the end of a passive or outlier ejection, in nanoseconds
	// of the upstream's clock epoch; the target is down while now < downUntil.
	downUntil  atomic.Int64
	downReason atomic.Uint32
	activeUp   atomic.Bool
	weight     atomic.Int32

	// maxFails (<= 0: off) and failTimeout (nanoseconds) are the target's
	// effective nginx max_fails and fail_timeout: its spec's overrides, or
	// the upstream's values. Update stores them; failures read them.
	maxFails    atomic.Int32
	failTimeout atomic.Int64

	consecutive5xx     atomic.Int32
	consecutiveGateway atomic.Int32
	// ejections in a row without a success; multiplies the ejection time.
	ejections atomic.Int32

	ewmaBits  atomic.Uint64 // float64 nanoseconds
	ewmaStamp atomic.Int64
	ewmaSeen  atomic.Bool // an attempt has ended: the default RTT is gone

	// mu serializes the rare writers: failure accounting and probe
	// results. The pick path and successful Ends never take it.
	mu          sync.Mutex
	windowStart int64
	windowFails int
	probe       probeState
}

// newTarget returns a healthy target; Update applies its spec before
// publishing it.
func newTarget(addr string, c *core) *Target {
	t := &Target{Addr: addr, core: c}
	t.activeUp.Store(true)
	t.ewmaBits.Store(floatBits(float64(c.cfg.EWMA.DefaultRTT)))
	t.ewmaStamp.Store(c.now())
	return t
}

// apply stores the per-target settings of sp, which checkSpec has
// filled in, resolving MaxFails and FailTimeout against the upstream's.
func (t *Target) apply(sp TargetSpec, p *PassiveConfig) {
	t.weight.Store(int32(sp.Weight))
	maxFails, failTimeout := p.MaxFails, p.FailTimeout
	if sp.MaxFails != 0 {
		maxFails = sp.MaxFails
	}
	if sp.FailTimeout != 0 {
		failTimeout = sp.FailTimeout
	}
	t.maxFails.Store(int32(maxFails))
	t.failTimeout.Store(int64(failTimeout))
}

// Weight returns the target's weight in the current snapshot.
func (t *Target) Weight() int { return int(t.weight.Load()) }

// InFlight returns the number of attempts begun and not yet ended.
func (t *Target) InFlight() int { return int(t.inflight.Load()) }

// Healthy reports whether the balancers would pick the target outside panic
// mode: not down by passive health, outlier ejection or active probes. It
// says nothing of the operator's TargetSpec.Down, which belongs to the
// snapshot (Snapshot.Specs).
func (t *Target) Healthy() bool { return t.available(t.core.now()) }

func (t *Target) available(now int64) bool {
	return now >= t.downUntil.Load() && t.activeUp.Load()
}

// Begin records the start of an attempt on t. Every Begin must be followed
// by exactly one End or Cancel. It does not block or allocate.
func (t *Target) Begin() { t.inflight.Add(1) }

// Cancel ends an attempt that says nothing about the target (the client
// went away first): in-flight goes down, health and latency are untouched.
func (t *Target) Cancel() { t.inflight.Add(-1) }

// End ends an attempt begun with Begin: in-flight goes down, the latency goes
// into the EWMA, and the outcome into passive health and outlier detection,
// which may take the target out. It does not allocate and never blocks on
// I/O; only a failure takes the target's own short mutex.
func (t *Target) End(o Outcome) {
	t.inflight.Add(-1)
	t.requests.Add(1)
	c := t.core
	now := c.now()
	failed := o.localFailure() || hasStatus(c.cfg.Passive.FailStatuses, o.Status)
	t.observe(now, o, failed)
	if !failed && !o.is5xx() {
		t.succeeded()
		return
	}
	if failed {
		t.failures.Add(1)
	}
	t.failed(now, o, failed)
}

func (t *Target) succeeded() {
	// Loads first: the common case writes nothing and keeps the cache line
	// shared between workers.
	if t.consecutive5xx.Load() != 0 {
		t.consecutive5xx.Store(0)
	}
	if t.consecutiveGateway.Load() != 0 {
		t.consecutiveGateway.Store(0)
	}
	if t.ejections.Load() != 0 && t.downUntil.Load() <= t.core.now() {
		t.ejections.Store(0)
	}
}
