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
	Total   int    `json:"total"`
	Healthy int    `json:"healthy"`
	// Panic: fewer healthy targets than the panic threshold; pickers use
	// every target.
	Panic   bool           `json:"panic"`
	Targets []TargetStatus `json:"targets"`
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
	StateHealthy   = "healthy"   // in rotation
	StateDown      = "down"      // taken out by passive health or outlier ejection until DownUntil
	StateUnhealthy = "unhealthy" // taken out by active probes until they pass again
)

// TargetStatus is one target's state.
type TargetStatus struct {
	Addr       string    `json:"addr"`
	Weight     int       `json:"weight"`
	State      string    `json:"state"`
	DownReason string    `json:"down_reason,omitempty"`
	DownUntil  time.Time `json:"down_until,omitzero"`
	InFlight   int64     `json:"in_flight"`
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
	for i, t := range s.targets {
		ts := t.status(now, c.cfg.Active.Type != ProbeOff)
		ts.Weight = int(s.weights[i])
		if ts.State == StateHealthy {
			st.Healthy++
		}
		st.Targets[i] = ts
	}
	if st.Total > 0 {
		cfg := &c.cfg
		st.Panic = (st.Healthy == 0 && cfg.PanicWhenAllDown) ||
			(st.Healthy > 0 && float64(st.Healthy) < cfg.PanicThreshold*float64(st.Total))
	}
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
	t.mu.Lock()
	ts.WindowFails = t.windowFails
	if now-t.windowStart > int64(c.cfg.Passive.FailTimeout) {
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
