package lb

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// core is the state an Upstream shares with its targets.
type core struct {
	cfg Config
	// epoch is the wall time of the clock's zero; with the default coarse
	// clock, coarseEpoch is the coarse reading at that moment.
	epoch       time.Time
	coarse      bool
	coarseEpoch int64
	snap        atomic.Pointer[Snapshot]

	// ejectMu serializes ejection decisions so that the MaxEjectedPercent
	// cap holds when workers report failures at the same time.
	ejectMu          sync.Mutex
	ejectionsDone    atomic.Uint64
	ejectionsRefused atomic.Uint64
	// healthEpoch changes whenever a target goes down or comes back by an
	// event (an ejection, a probe verdict), so pickers recount health only
	// then; ejections that simply expire are tracked by their end time.
	healthEpoch atomic.Uint64

	budget retryBudget
}

// now returns nanoseconds since the upstream was created, by Config.Clock
// or, by default, by the coarse clock. It never blocks or allocates.
func (c *core) now() int64 {
	if c.coarse {
		return coarseNow() - c.coarseEpoch
	}
	return int64(c.cfg.Clock().Sub(c.epoch))
}

func (c *core) timeAt(ns int64) time.Time { return c.epoch.Add(time.Duration(ns)) }

// Upstream is one named group of targets with its balancer, health and retry
// policy. It holds the current Snapshot in an atomic pointer: pickers read it
// without locks, Update swaps in a new one.
//
// Upstream is safe for concurrent use. It must not be copied.
type Upstream struct {
	_    noCopy
	name string
	core *core

	updateMu sync.Mutex
	version  uint64

	// probeMu serializes probe rounds, so a target's probe counters have one
	// writer at a time.
	probeMu    sync.Mutex
	httpClient *http.Client
	probers    sync.WaitGroup
}

// NewUpstream returns an upstream with no targets; call Update to give it
// some. The error wraps ErrConfig or ErrUnknownBalancer.
func NewUpstream(name string, cfg Config) (*Upstream, error) {
	cfg, err := cfg.normalized()
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", name, err)
	}
	c := &core{cfg: cfg}
	if cfg.Clock == nil {
		startCoarseClock()
		c.coarse, c.coarseEpoch, c.epoch = true, coarseNow(), time.Now()
	} else {
		c.epoch = cfg.Clock()
	}
	c.budget.init(c)
	c.snap.Store(&Snapshot{})
	u := &Upstream{name: name, core: c}
	u.httpClient = newProbeClient()
	return u, nil
}

// Name returns the upstream's name.
func (u *Upstream) Name() string { return u.name }

// Config returns the upstream's configuration with every default filled in.
// The slices are shared: do not modify them.
func (u *Upstream) Config() Config { return u.core.cfg }

// Snapshot returns the current snapshot. It does not block or allocate.
func (u *Upstream) Snapshot() *Snapshot { return u.core.snap.Load() }

// Update replaces the targets with specs. A target whose address stays keeps
// its *Target, and with it its in-flight count, latency, health and
// counters, whatever its weight, Down, Backup, MaxFails or FailTimeout
// become; a new address starts healthy; a removed address leaves the
// rotation at once (attempts in flight on it still End normally). On error
// (wrapping ErrTarget or ErrDuplicateTarget, or ErrConfig for a backup
// target under the Hash balancer) the current snapshot stays. Safe for
// concurrent use; it allocates and may take milliseconds for the Hash
// balancer, so call it off the event loops.
func (u *Upstream) Update(specs []TargetSpec) error {
	checked := make([]TargetSpec, len(specs))
	seen := make(map[string]struct{}, len(specs))
	for i, sp := range specs {
		sp, err := checkSpec(sp, &u.core.cfg)
		if err != nil {
			return fmt.Errorf("upstream %q: %w", u.name, err)
		}
		if _, dup := seen[sp.Addr]; dup {
			return fmt.Errorf("upstream %q: %w %q", u.name, ErrDuplicateTarget, sp.Addr)
		}
		seen[sp.Addr] = struct{}{}
		checked[i] = sp
	}

	u.updateMu.Lock()
	defer u.updateMu.Unlock()
	old := u.core.snap.Load()
	kept := make(map[string]*Target, len(old.targets))
	for _, t := range old.targets {
		kept[t.Addr] = t
	}
	targets := make([]*Target, len(checked))
	for i, sp := range checked {
		t := kept[sp.Addr]
		if t == nil {
			t = newTarget(sp.Addr, u.core)
		}
		targets[i] = t
	}
	u.version++
	s := buildSnapshot(u.version, targets, checked, &u.core.cfg)
	// Per-target settings are stored after the snapshot is built and
	// before it is published; a target shared with the old snapshot reports
	// its new weight, and counts failures by its new max_fails, a moment
	// early, which nothing but the status view can tell.
	for i, t := range targets {
		t.apply(checked[i], &u.core.cfg.Passive)
	}
	u.core.snap.Store(s)
	return nil
}

const (
	maxWeight   = 1_000_000
	maxMaxFails = 1_000_000
)

// checkSpec returns sp with its weight filled in, or an error wrapping
// ErrTarget, or ErrConfig for what the upstream's balancer cannot do.
func checkSpec(sp TargetSpec, cfg *Config) (TargetSpec, error) {
	host, port, err := net.SplitHostPort(sp.Addr)
	if err != nil {
		return sp, fmt.Errorf("%w %q: %v", ErrTarget, sp.Addr, err)
	}
	if host == "" {
		return sp, fmt.Errorf("%w %q: empty host", ErrTarget, sp.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return sp, fmt.Errorf("%w %q: port must be 1..65535", ErrTarget, sp.Addr)
	}
	switch {
	case sp.Weight == 0:
		sp.Weight = 1
	case sp.Weight < 0 || sp.Weight > maxWeight:
		return sp, fmt.Errorf("%w %q: weight %d not in 1..%d", ErrTarget, sp.Addr, sp.Weight, maxWeight)
	}
	if sp.MaxFails < -1 || sp.MaxFails > maxMaxFails {
		return sp, fmt.Errorf("%w %q: max_fails %d not in -1..%d", ErrTarget, sp.Addr, sp.MaxFails, maxMaxFails)
	}
	if sp.FailTimeout < 0 {
		return sp, fmt.Errorf("%w %q: negative fail_timeout %v", ErrTarget, sp.Addr, sp.FailTimeout)
	}
	if sp.Backup && cfg.Balancer == Hash {
		// A key's target must not depend on whether some other target is
		// up; nginx refuses "backup" with "hash" for the same reason.
		return sp, fmt.Errorf("%w: target %q: backup targets are not supported by the hash balancer", ErrConfig, sp.Addr)
	}
	return sp, nil
}

// noCopy makes go vet's copylocks check flag copies of the types embedding it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
