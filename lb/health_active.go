package lb

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// probeState is a target's active-health bookkeeping, guarded by Target.mu.
type probeState struct {
	successes, failures int // in a row
	checked             bool
	lastAt              int64
	lastStatus          int
	lastErr             string
}

func newProbeClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // probe the target itself, never through a proxy
			DisableKeepAlives:      true,
			DisableCompression:     true,
			MaxResponseHeaderBytes: 16 << 10,
		},
		// A redirect is an answer: its status is judged, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// StartHealthChecks probes every target of the current snapshot (but the
// admin-down ones) each
// Active.Interval, on goroutines of its own (never on an event loop), and
// publishes the results to the targets, where the pickers see them with an
// atomic load. It returns at once; the probing stops when ctx is done
// (WaitHealthChecks waits for that). With Active.Type ProbeOff it does
// nothing. Call it once per Upstream.
func (u *Upstream) StartHealthChecks(ctx context.Context) {
	if u.core.cfg.Active.Type == ProbeOff {
		return
	}
	u.probers.Add(1)
	go func() {
		defer u.probers.Done()
		ticker := time.NewTicker(u.core.cfg.Active.Interval)
		defer ticker.Stop()
		for {
			u.CheckNow(ctx)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
}

// WaitHealthChecks waits until the probing started by StartHealthChecks has
// stopped after its context was done.
func (u *Upstream) WaitHealthChecks() { u.probers.Wait() }

// CheckNow runs one probe round: it probes every target of the current
// snapshot but the admin-down ones concurrently, each bounded by Active.Timeout, and publishes the
// results before returning. Rounds are serialized. It blocks: call it from a
// goroutine, never from an event loop. Tests drive health with it. Probes
// cut short by ctx are not counted.
func (u *Upstream) CheckNow(ctx context.Context) {
	if u.core.cfg.Active.Type == ProbeOff {
		return
	}
	u.probeMu.Lock()
	defer u.probeMu.Unlock()
	var wg sync.WaitGroup
	s := u.Snapshot()
	for i, t := range s.targets {
		if s.specs[i].Down {
			// Drained: its probe state stays as it was until it is back.
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := u.probe(ctx, t)
			if ctx.Err() != nil {
				return
			}
			u.recordProbe(t, status, err)
		}()
	}
	wg.Wait()
}

func (u *Upstream) probe(ctx context.Context, t *Target) (int, error) {
	a := &u.core.cfg.Active
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	if a.Type == ProbeTCP {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", t.Addr)
		if err != nil {
			return 0, err
		}
		return 0, conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.Addr+a.Path, nil)
	if err != nil {
		return 0, err
	}
	if a.Host != "" {
		req.Host = a.Host
	}
	req.Header.Set("User-Agent", "sluice-health-check")
	resp, err := u.httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	// Drain a little so the target sees a clean close; the body is not judged.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// recordProbe applies the healthy/unhealthy thresholds to one probe result.
func (u *Upstream) recordProbe(t *Target, status int, err error) {
	a := &u.core.cfg.Active
	ok := err == nil && (a.Type == ProbeTCP || hasStatus(a.Statuses, status))
	now := u.core.now()

	t.mu.Lock()
	defer t.mu.Unlock()
	ps := &t.probe
	ps.checked, ps.lastAt, ps.lastStatus, ps.lastErr = true, now, status, ""
	if err != nil {
		ps.lastErr = err.Error()
	}
	if ok {
		ps.successes++
		ps.failures = 0
		if !t.activeUp.Load() && ps.successes >= a.Healthy {
			t.activeUp.Store(true)
			u.core.healthEpoch.Add(1)
		}
		if !a.KeepPassiveEjection && t.downUntil.Load() > now {
			t.downUntil.Store(0)
			u.core.healthEpoch.Add(1)
			t.windowFails = 0
			t.consecutive5xx.Store(0)
			t.consecutiveGateway.Store(0)
		}
		return
	}
	ps.failures++
	ps.successes = 0
	if t.activeUp.Load() && ps.failures >= a.Unhealthy {
		t.activeUp.Store(false)
		u.core.healthEpoch.Add(1)
	}
}
