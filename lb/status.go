package lb

import "time"

// UpstreamStatus is a point-in-time view of an upstream and all its targets
// for the Admin API ("GET /upstreams"). It marshals to JSON as is.
type UpstreamStatus struct {
	Name     string       `json:"name"`
	Balancer BalancerKind `json:"balancer"`
	HashOn   string       `json:"hash_on,omitempty"`
	// Version of the snapshot described.
	Version uint64 `json:"version"`
	// Total counts the listed targets, admin-down ones included; Healthy
	// the targets in rotation (not admin-down) that are healthy; AdminDown
	// the targets down by the operator; Backups the backup targets.
	Total     int `json:"total"`
	Healthy   int `json:"healthy"`
	AdminDown int `json:"admin_down"`
	Backups   int `json:"backups"`
	// Panic: fewer healthy primaries than the panic threshold and no healthy
	// backup; pickers use every target in rotation (see Config.PanicThreshold).
	Panic bool `json:"panic"`
	// BackupsActive: no primary is healthy and a backup is, so the backups
	// take the traffic.
	BackupsActive bool           `json:"backups_active"`
	Targets       []TargetStatus `json:"targets"`
	// Ejections counts passive and outlier ejections since creation;
	// EjectionsRefused the ones the MaxEjectedPercent cap refused.
	Ejections        uint64       `json:"ejections"`
	EjectionsRefused uint64       `json:"ejections_refused"`
	RetryBudget      BudgetStatus `json:"retry_budget"`
}

// BudgetStatus is the retry budget's window.
type BudgetStatus struct {
	WindowSeconds int   `json:"window_seconds"`
	Requests      int64 `json:"requests"`
	Retries       int64 `json:"retries"`
}

// Target states in TargetStatus.State.
const (
	StateHealthy   = "healthy"    // in rotation
	StateDown      = "down"       // taken out by passive health or outlier ejection until DownUntil
	StateUnhealthy = "unhealthy"  // taken out by active probes until they pass again
	StateAdminDown = "admin_down" // taken out by the operator (TargetSpec.Down) until an Update says otherwise
)

// TargetStatus is one target's state and its server parameters, the
// fields of nginx-upsync's upstream_show ("server addr weight=1
// max_fails=2 fail_timeout=10s backup down").
type TargetStatus struct {
	Addr   string `json:"addr"`
	Weight int    `json:"weight"`
	// Down and Backup are the target's spec; an admin-down target's State
	// is StateAdminDown whatever its health (DownReason, DownUntil and
	// Active still tell it).
	Down   bool `json:"down"`
	Backup bool `json:"backup"`
	// MaxFails and FailTimeoutSeconds are the effective nginx max_fails and
	// fail_timeout of the target: its spec's, else the upstream's. MaxFails
	// 0 means the rule is off for it (nginx's max_fails=0).
	MaxFails           int       `json:"max_fails"`
	FailTimeoutSeconds float64   `json:"fail_timeout_s"`
	State              string    `json:"state"`
	DownReason         string    `json:"down_reason,omitempty"`
	DownUntil          time.Time `json:"down_until,omitzero"`
	InFlight           int64     `json:"in_flight"`
	// Requests and Failures count ended attempts since the target appeared.
	Requests          uint64  `json:"requests"`
	Failures          uint64  `json:"failures"`
	LatencyEWMAMillis float64 `json:"latency_ewma_ms"`
	// Failure counters of passive health: failures in the current
	// fail_timeout window, and 5xx and gateway errors in a row.
	WindowFails              int          `json:"window_fails"`
	Consecutive5xx           int          `json:"consecutive_5xx"`
	ConsecutiveGatewayErrors int          `json:"consecutive_gateway_errors"`
	Active                   *ProbeStatus `json:"active,omitempty"`
}

// ProbeStatus is a target's active health.
type ProbeStatus struct {
	Healthy    bool      `json:"healthy"`
	Successes  int       `json:"successes_in_row"`
	Failures   int       `json:"failures_in_row"`
	LastCheck  time.Time `json:"last_check,omitzero"`
	LastStatus int       `json:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
}

// Status returns a view of every target's state. It allocates and takes
// each target's mutex briefly: call it from the admin side, not from an
// event loop. Safe for concurrent use.
func (u *Upstream) Status() UpstreamStatus {
	c := u.core
	s := c.snap.Load()
	now := c.now()
	st := UpstreamStatus{
		Name:             u.name,
		Balancer:         c.cfg.Balancer,
		Version:          s.version,
		Total:            len(s.targets),
		Targets:          make([]TargetStatus, len(s.targets)),
		Ejections:        c.ejectionsDone.Load(),
		EjectionsRefused: c.ejectionsRefused.Load(),
	}
	if c.cfg.Balancer == Hash {
		st.HashOn = c.cfg.HashOn.String()
	}
	var healthyPrimaries, healthyBackups int
	for i, t := range s.targets {
		sp := &s.specs[i]
		ts := t.status(now, c.cfg.Active.Type != ProbeOff)
		ts.Weight, ts.Down, ts.Backup = sp.Weight, sp.Down, sp.Backup
		switch {
		case sp.Down:
			ts.State = StateAdminDown
			st.AdminDown++
		case ts.State != StateHealthy:
		case sp.Backup:
			healthyBackups++
		default:
			healthyPrimaries++
		}
		if sp.Backup {
			st.Backups++
		}
		st.Targets[i] = ts
	}
	st.Healthy = healthyPrimaries + healthyBackups
	st.Panic = panicRule(&c.cfg, healthyPrimaries, s.primary.live, healthyBackups, s.backup.live)
	st.BackupsActive = healthyPrimaries == 0 && healthyBackups > 0
	sec := c.budget.second()
	st.RetryBudget.WindowSeconds = budgetSeconds
	st.RetryBudget.Requests, st.RetryBudget.Retries = c.budget.totals(sec)
	return st
}

func (t *Target) status(now int64, probing bool) TargetStatus {
	c := t.core
	ts := TargetStatus{
		Addr:                     t.Addr,
		State:                    StateHealthy,
		InFlight:                 t.inflight.Load(),
		Requests:                 t.requests.Load(),
		Failures:                 t.failures.Load(),
		LatencyEWMAMillis:        t.ewmaAt(now) / float64(time.Millisecond),
		Consecutive5xx:           int(t.consecutive5xx.Load()),
		ConsecutiveGatewayErrors: int(t.consecutiveGateway.Load()),
	}
	if until := t.downUntil.Load(); until > now {
		ts.State = StateDown
		ts.DownUntil = c.timeAt(until)
		if r := t.downReason.Load(); int(r) < len(downReasonNames) {
			ts.DownReason = downReasonNames[r]
		}
	}
	if !t.activeUp.Load() {
		ts.State = StateUnhealthy
	}
	if maxFails := int(t.maxFails.Load()); maxFails > 0 {
		ts.MaxFails = maxFails
	}
	failTimeout := t.failTimeout.Load()
	ts.FailTimeoutSeconds = time.Duration(failTimeout).Seconds()
	t.mu.Lock()
	ts.WindowFails = t.windowFails
	if now-t.windowStart > failTimeout {
		ts.WindowFails = 0
	}
	if probing {
		ps := &t.probe
		ts.Active = &ProbeStatus{
			Healthy:    t.activeUp.Load(),
			Successes:  ps.successes,
			Failures:   ps.failures,
			LastStatus: ps.lastStatus,
			LastError:  ps.lastErr,
		}
		if ps.checked {
			ts.Active.LastCheck = c.timeAt(ps.lastAt)
		}
	}
	t.mu.Unlock()
	return ts
}
