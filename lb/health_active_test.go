package lb

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// probeTarget is a loopback HTTP server whose health endpoint answers the
// status the test sets.
type probeTarget struct {
	srv    *httptest.Server
	status atomic.Int32
	hits   atomic.Int32
	host   atomic.Value // string: the Host of the last probe
	path   atomic.Value // string
}

func newProbeTarget(t *testing.T) *probeTarget {
	pt := &probeTarget{}
	pt.status.Store(200)
	pt.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pt.hits.Add(1)
		pt.host.Store(r.Host)
		pt.path.Store(r.URL.RequestURI())
		w.WriteHeader(int(pt.status.Load()))
	}))
	t.Cleanup(pt.srv.Close)
	return pt
}

func (pt *probeTarget) addr() string { return strings.TrimPrefix(pt.srv.URL, "http://") }

func newProbedUpstream(t *testing.T, active ActiveConfig, addrs ...string) *Upstream {
	t.Helper()
	return newUpstreamAt(t, Config{Active: active, MaxEjectedPercent: 100, PanicThreshold: -1}, addrs...)
}

func TestHTTPProbeThresholds(t *testing.T) {
	pt := newProbeTarget(t)
	active := ActiveConfig{Type: ProbeHTTP, Path: "/status?deep=1", Host: "health.internal", Timeout: 5 * time.Second, Interval: 10 * time.Second, Healthy: 2, Unhealthy: 3}
	u := newProbedUpstream(t, active, pt.addr())
	x := u.Snapshot().Targets()[0]
	ctx := context.Background()

	u.CheckNow(ctx)
	if got := pt.host.Load(); got != "health.internal" {
		t.Fatalf("probe Host %q", got)
	}
	if got := pt.path.Load(); got != "/status?deep=1" {
		t.Fatalf("probe path %q", got)
	}
	pt.status.Store(503)
	for i := 1; i <= 3; i++ {
		u.CheckNow(ctx)
		if healthy := x.Healthy(); healthy != (i < 3) {
			t.Fatalf("after %d failed probes healthy=%v", i, healthy)
		}
	}
	if _, err := u.NewPicker().Pick(nil, nil); !errors.Is(err, ErrAllDown) {
		t.Fatalf("Pick with the only target unhealthy: %v", err)
	}
	st := u.Status().Targets[0]
	if st.State != StateUnhealthy || st.Active == nil || st.Active.LastStatus != 503 || st.Active.Failures != 3 {
		t.Fatalf("status %+v active %+v", st, st.Active)
	}
	pt.status.Store(200)
	u.CheckNow(ctx)
	if x.Healthy() {
		t.Fatal("back after 1 of 2 successes")
	}
	u.CheckNow(ctx)
	if !x.Healthy() {
		t.Fatal("not back after 2 successes")
	}
}

func TestHTTPProbeUnexpectedStatusAndRedirect(t *testing.T) {
	pt := newProbeTarget(t)
	pt.status.Store(302)
	active := ActiveConfig{Type: ProbeHTTP, Statuses: []int{200, 204}, Unhealthy: 1, Timeout: 5 * time.Second, Interval: 10 * time.Second}
	u := newProbedUpstream(t, active, pt.addr())
	u.CheckNow(context.Background())
	if u.Snapshot().Targets()[0].Healthy() {
		t.Fatal("a 302 counted as healthy with statuses [200 204]")
	}
	if pt.hits.Load() != 1 {
		t.Fatalf("redirect followed: %d hits", pt.hits.Load())
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	active := ActiveConfig{Type: ProbeTCP, Unhealthy: 1, Timeout: 5 * time.Second, Interval: 10 * time.Second}
	u := newProbedUpstream(t, active, ln.Addr().String(), freeport.Addr(t))
	u.CheckNow(context.Background())
	ts := u.Snapshot().Targets()
	if !ts[0].Healthy() || ts[1].Healthy() {
		t.Fatalf("listening healthy=%v, closed healthy=%v", ts[0].Healthy(), ts[1].Healthy())
	}
	st := u.Status().Targets[1]
	if st.Active == nil || st.Active.LastError == "" {
		t.Fatalf("closed port status has no error: %+v", st.Active)
	}
}

// TestProbeTimeout: a target that accepts and never answers is a failure
// after Timeout, not a hang.
func TestProbeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	active := ActiveConfig{Type: ProbeHTTP, Unhealthy: 1, Timeout: 200 * time.Millisecond, Interval: time.Second}
	u := newProbedUpstream(t, active, ln.Addr().String())
	u.CheckNow(context.Background())
	if u.Snapshot().Targets()[0].Healthy() {
		t.Fatal("a silent target passed the probe")
	}
	ln.Close()
	<-done
	for _, c := range held {
		c.Close()
	}
}

func TestSuccessfulProbeLiftsPassiveEjection(t *testing.T) {
	for _, keep := range []bool{false, true} {
		pt := newProbeTarget(t)
		active := ActiveConfig{Type: ProbeHTTP, Timeout: 5 * time.Second, Interval: 10 * time.Second, KeepPassiveEjection: keep}
		u := newProbedUpstream(t, active, pt.addr())
		x := u.Snapshot().Targets()[0]
		failTarget(x, 1)
		if x.Healthy() {
			t.Fatal("passive ejection did not happen")
		}
		u.CheckNow(context.Background())
		if x.Healthy() == keep {
			t.Fatalf("KeepPassiveEjection=%v: healthy=%v after a good probe", keep, x.Healthy())
		}
	}
}

// TestStartHealthChecks runs the real ticker loop: a target that starts
// failing is taken out, comes back, and the loop stops with its context.
func TestStartHealthChecks(t *testing.T) {
	pt := newProbeTarget(t)
	active := ActiveConfig{Type: ProbeHTTP, Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Healthy: 1, Unhealthy: 1}
	u := newProbedUpstream(t, active, pt.addr())
	x := u.Snapshot().Targets()[0]
	ctx, cancel := context.WithCancel(context.Background())
	u.StartHealthChecks(ctx)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("a first probe", func() bool { return pt.hits.Load() > 0 })
	pt.status.Store(500)
	waitFor("the target to go unhealthy", func() bool { return !x.Healthy() })
	pt.status.Store(200)
	waitFor("the target to come back", x.Healthy)
	cancel()
	u.WaitHealthChecks()
	hits := pt.hits.Load()
	time.Sleep(60 * time.Millisecond)
	if pt.hits.Load() != hits {
		t.Fatal("probes continued after the context was done")
	}
}

func TestProbesOffIsANoOp(t *testing.T) {
	u, _ := newTestUpstream(t, Config{}, 1)
	u.StartHealthChecks(context.Background())
	u.CheckNow(context.Background())
	u.WaitHealthChecks()
	if st := u.Status().Targets[0]; st.Active != nil {
		t.Fatalf("probe status without probes: %+v", st.Active)
	}
}
