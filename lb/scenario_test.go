package lb

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// attemptFunc performs one attempt on a target and reports its outcome.
type attemptFunc func(x *Target) Outcome

// serve runs one request the way the engine does (see the package doc): pick,
// Begin, attempt, End, Tried, ShouldRetry. It returns the final outcome and
// the pick error that ended it, if any.
func serve(u *Upstream, p *Picker, method string, key []byte, attempt attemptFunc) (Outcome, error) {
	u.RecordRequest()
	var tried Tried
	for n := 1; ; n++ {
		x, err := p.Pick(key, &tried)
		if err != nil {
			return Outcome{}, err
		}
		x.Begin()
		o := attempt(x)
		x.End(o)
		tried.Add(x)
		if !u.ShouldRetry([]byte(method), n, o) {
			return o, nil
		}
	}
}

// TestScenarioKillOneOfThree simulates, on a driven clock, one of three
// targets dying under sequential load: no request fails, the dead target is
// out after its first failure (max_fails=1), it is tried again after
// fail_timeout, and it is back once it answers.
func TestScenarioKillOneOfThree(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, clock := newTestUpstream(t, Config{Balancer: kind}, 1, 1, 1)
			p := u.newPicker(37)
			dead := u.Snapshot().Targets()[1]
			var deadAlive atomic.Bool
			deadAlive.Store(true)
			attempt := func(x *Target) Outcome {
				clock.Advance(time.Millisecond)
				if x == dead && !deadAlive.Load() {
					return Outcome{ConnectFailed: true, Latency: 100 * time.Microsecond}
				}
				return Outcome{Status: 200, Latency: time.Millisecond}
			}
			key := make([]byte, 1)
			run := func(n int) (failed, toDead int) {
				for i := range n {
					key[0] = byte(i)
					before := dead.requests.Load()
					o, err := serve(u, p, "GET", key, attempt)
					if err != nil || o.Status != 200 {
						failed++
					}
					toDead += int(dead.requests.Load() - before)
				}
				return failed, toDead
			}
			if failed, _ := run(300); failed != 0 {
				t.Fatalf("%d failed before the kill", failed)
			}
			deadAlive.Store(false)
			failed, toDead := run(3000) // 3 s of simulated traffic
			if failed != 0 {
				t.Fatalf("%d requests failed after the kill", failed)
			}
			// Within fail_timeout (10 s) the dead target gets one attempt,
			// the one that took it out.
			if toDead != 1 {
				t.Fatalf("dead target got %d attempts in 3 s, want 1", toDead)
			}
			clock.Advance(10 * time.Second)
			failed, toDead = run(1000)
			if failed != 0 || toDead != 1 {
				t.Fatalf("after fail_timeout: %d failed, %d attempts on the dead target (want 0 and 1)", failed, toDead)
			}
			deadAlive.Store(true)
			clock.Advance(10 * time.Second)
			if _, toDead = run(3000); toDead < 300 {
				t.Fatalf("recovered target got only %d of 3000 requests", toDead)
			}
		})
	}
}

// TestScenarioAllDownFailsFast: with every target refusing connections a
// request ends after at most Tries attempts, and once health has taken
// them out, at once with ErrAllDown, never waiting on a target.
func TestScenarioAllDownFailsFast(t *testing.T) {
	u, clock := newTestUpstream(t, Config{Retry: RetryConfig{Tries: 3}, MaxEjectedPercent: 100}, 1, 1, 1)
	p := u.newPicker(41)
	attempts := 0
	refuse := func(x *Target) Outcome {
		attempts++
		clock.Advance(time.Millisecond)
		return Outcome{ConnectFailed: true}
	}
	o, err := serve(u, p, "GET", nil, refuse)
	if err != nil || !o.ConnectFailed || attempts != 3 {
		t.Fatalf("first request: outcome %+v err %v after %d attempts", o, err, attempts)
	}
	attempts = 0
	if _, err := serve(u, p, "GET", nil, refuse); !errors.Is(err, ErrAllDown) || attempts != 0 {
		t.Fatalf("second request: err %v after %d attempts, want ErrAllDown at once", err, attempts)
	}
}

// TestScenarioRealUpstreams runs requests through net/http against three
// real loopback servers with active probes on: one is killed (connection
// refused) and later restarted on the same port. No GET fails, and the
// restarted target takes traffic again.
func TestScenarioRealUpstreams(t *testing.T) {
	var servers [3]*http.Server
	var addrs [3]string
	var hits [3]atomic.Int64
	start := func(i int, addr string) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		addrs[i] = ln.Addr().String()
		servers[i] = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			w.WriteHeader(200)
		})}
		go servers[i].Serve(ln)
	}
	for i := range servers {
		start(i, "127.0.0.1:0")
	}
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()

	cfg := Config{
		Balancer: LeastConn,
		// Generous probe timeouts: a loaded 2-core machine under -race must
		// not fail probes of healthy servers.
		Active: ActiveConfig{Type: ProbeHTTP, Path: "/", Interval: 300 * time.Millisecond, Timeout: 300 * time.Millisecond, Healthy: 1, Unhealthy: 3},
	}
	u := newUpstreamAt(t, cfg, addrs[:]...)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); u.WaitHealthChecks() }()
	u.StartHealthChecks(ctx)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	p := u.NewPicker()
	attempt := func(x *Target) Outcome {
		begin := time.Now()
		resp, err := client.Get("http://" + x.Addr + "/")
		if err != nil {
			if strings.Contains(err.Error(), "refused") {
				return Outcome{ConnectFailed: true, Latency: time.Since(begin)}
			}
			return Outcome{IOError: true, Latency: time.Since(begin)}
		}
		resp.Body.Close()
		return Outcome{Status: resp.StatusCode, Latency: time.Since(begin)}
	}
	run := func(n int) (failed int) {
		for range n {
			if o, err := serve(u, p, "GET", nil, attempt); err != nil || o.Status != 200 {
				if failed == 0 {
					t.Logf("first failure: outcome %+v, err %v, status %+v", o, err, u.Status())
				}
				failed++
			}
		}
		return failed
	}
	if failed := run(60); failed != 0 {
		t.Fatalf("%d failed with all up", failed)
	}
	servers[1].Close()
	killed := u.Snapshot().Targets()[1]
	if failed := run(200); failed != 0 {
		t.Fatalf("%d GETs failed after a target was killed", failed)
	}
	if killed.Healthy() {
		t.Fatal("killed target still healthy after 200 requests")
	}
	start(1, addrs[1])
	deadline := time.Now().Add(20 * time.Second)
	for !killed.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("restarted target not back within 20 s of probes")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := hits[1].Load()
	if failed := run(60); failed != 0 {
		t.Fatalf("%d failed after the restart", failed)
	}
	if hits[1].Load()-before < 10 {
		t.Fatalf("restarted target got %d of 60 requests", hits[1].Load()-before)
	}
}
