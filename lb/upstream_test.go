package lb

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUpdateKeepsStateOfTargetsThatStay: the regression behind "health
// state that never recovers / stale targets": an update must neither reset
// nor leak the state of addresses that stay.
func TestUpdateKeepsStateOfTargetsThatStay(t *testing.T) {
	u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 100}, 1, 1, 1)
	old := u.Snapshot().Targets()
	old[0].Begin()
	old[0].Begin()
	failTarget(old[1], 1)

	next := []TargetSpec{{Addr: addrOf(1), Weight: 5}, {Addr: addrOf(0)}, {Addr: "10.9.9.9:80"}}
	if err := u.Update(next); err != nil {
		t.Fatal(err)
	}
	s := u.Snapshot()
	ts := s.Targets()
	if s.Version() != 2 || s.Len() != 3 {
		t.Fatalf("version %d len %d", s.Version(), s.Len())
	}
	if ts[0] != old[1] || ts[1] != old[0] {
		t.Fatal("kept addresses got new *Target values")
	}
	if ts[1].InFlight() != 2 {
		t.Fatalf("in-flight lost: %d", ts[1].InFlight())
	}
	if ts[0].Healthy() || ts[0].Weight() != 5 {
		t.Fatalf("kept target: healthy=%v weight=%d", ts[0].Healthy(), ts[0].Weight())
	}
	if !ts[2].Healthy() || ts[2].InFlight() != 0 {
		t.Fatal("a new target does not start clean")
	}
	// The removed target is never picked again, and attempts in flight on
	// a removed target still end cleanly.
	removed := old[2]
	removed.Begin()
	p := u.newPicker(1)
	for range 100 {
		if mustPick(t, p, nil, nil) == removed {
			t.Fatal("picked a removed target")
		}
	}
	removed.End(Outcome{Status: 200})
	if removed.InFlight() != 0 {
		t.Fatal("End on a removed target")
	}
}

func TestUpdateRejectsBadSpecsAndKeepsSnapshot(t *testing.T) {
	cases := []struct {
		name string
		sp   []TargetSpec
		err  error
	}{
		{"no port", []TargetSpec{{Addr: "10.0.0.1"}}, ErrTarget},
		{"port 0", []TargetSpec{{Addr: "10.0.0.1:0"}}, ErrTarget},
		{"port too big", []TargetSpec{{Addr: "10.0.0.1:70000"}}, ErrTarget},
		{"empty host", []TargetSpec{{Addr: ":80"}}, ErrTarget},
		{"negative weight", []TargetSpec{{Addr: "10.0.0.1:80", Weight: -1}}, ErrTarget},
		{"huge weight", []TargetSpec{{Addr: "10.0.0.1:80", Weight: maxWeight + 1}}, ErrTarget},
		{"duplicate", []TargetSpec{{Addr: "10.0.0.1:80"}, {Addr: "10.0.0.1:80"}}, ErrDuplicateTarget},
	}
	u, _ := newTestUpstream(t, Config{}, 1, 1)
	before := u.Snapshot()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := u.Update(c.sp); !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if u.Snapshot() != before {
				t.Fatal("a refused update replaced the snapshot")
			}
		})
	}
	if err := u.Update([]TargetSpec{{Addr: "[::1]:8080"}, {Addr: "backend.local:443"}}); err != nil {
		t.Fatalf("valid IPv6 and host names refused: %v", err)
	}
}

// TestPickersFollowUpdatesConcurrently runs pickers on several goroutines
// (one each, as workers do) while another goroutine keeps updating: under
// -race this checks the snapshot handoff.
func TestPickersFollowUpdatesConcurrently(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Balancer: kind, HashTableSize: 1009}, 1, 2, 3)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := u.newPicker(uint64(w))
					key := []byte{byte(w)}
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						x, err := p.Pick(key, nil)
						if err != nil {
							t.Error(err)
							return
						}
						x.Begin()
						x.End(Outcome{Latency: time.Millisecond, Status: 200 + 300*(i%7/6)})
					}
				}()
			}
			for i := range 50 {
				if err := u.Update(specs(1+i%3, 2, 3, 1+i%2)[:3+i%2]); err != nil {
					t.Fatal(err)
				}
				_ = u.Status()
			}
			close(stop)
			wg.Wait()
		})
	}
}

func TestStatusJSON(t *testing.T) {
	cfg := Config{Balancer: Hash, HashOn: HashKeySpec{Source: HashOnCookie, Name: "sid"}, MaxEjectedPercent: 100}
	u, _ := newTestUpstream(t, cfg, 1, 3)
	ts := u.Snapshot().Targets()
	ts[0].Begin()
	ts[0].End(Outcome{Latency: 40 * time.Millisecond, Status: 200})
	failTarget(ts[1], 1)
	ts[0].Begin()

	st := u.Status()
	if st.Total != 2 || st.Healthy != 1 || st.Panic || st.HashOn != "cookie:sid" {
		t.Fatalf("status %+v", st)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	targets := back["targets"].([]any)
	up := targets[0].(map[string]any)
	down := targets[1].(map[string]any)
	if up["state"] != "healthy" || up["in_flight"] != 1.0 || up["requests"] != 1.0 || up["latency_ewma_ms"] != 40.0 {
		t.Fatalf("healthy target JSON %v", up)
	}
	if _, has := up["down_until"]; has {
		t.Fatalf("zero down_until marshalled: %s", b)
	}
	if down["state"] != "down" || down["down_reason"] != "max_fails" || down["weight"] != 3.0 || down["failures"] != 1.0 {
		t.Fatalf("down target JSON %v", down)
	}
	if !strings.Contains(string(b), `"down_until":"2026-01-02T03:04:15Z"`) {
		t.Fatalf("down_until not the fake clock + 10s: %s", b)
	}
}

func TestNewUpstreamConfig(t *testing.T) {
	u, err := NewUpstream("d", Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := u.Config()
	if c.Balancer != RoundRobin || c.Passive.MaxFails != 1 || c.Passive.FailTimeout != 10*time.Second ||
		c.MaxEjectedPercent != 50 || c.PanicThreshold != 0.5 || c.Retry.Tries != 2 || c.Retry.Budget != 0.2 ||
		c.Retry.MinRetriesPerSecond != 10 || c.Retry.On != RetryOnConnect|RetryOnTimeout ||
		len(c.Retry.Statuses) != 3 || c.Active.Path != "/healthz" || c.Active.Interval != 5*time.Second ||
		c.Active.Timeout != time.Second || c.Active.Healthy != 2 || c.Active.Unhealthy != 3 ||
		c.EWMA.Decay != 10*time.Second || c.EWMA.DefaultRTT != 30*time.Millisecond {
		t.Fatalf("defaults %+v", c)
	}
	if u.Name() != "d" || u.PerTryTimeout() != 0 {
		t.Fatal("accessors")
	}

	bad := []struct {
		name string
		cfg  Config
		err  error
	}{
		{"balancer", Config{Balancer: "random"}, ErrUnknownBalancer},
		{"table size not prime", Config{HashTableSize: 1000}, ErrConfig},
		{"max fails", Config{Passive: PassiveConfig{MaxFails: -2}}, ErrConfig},
		{"fail timeout", Config{Passive: PassiveConfig{FailTimeout: -1}}, ErrConfig},
		{"fail status", Config{Passive: PassiveConfig{FailStatuses: []int{700}}}, ErrConfig},
		{"probe type", Config{Active: ActiveConfig{Type: "udp"}}, ErrConfig},
		{"probe path", Config{Active: ActiveConfig{Type: ProbeHTTP, Path: "healthz"}}, ErrConfig},
		{"probe timeout over interval", Config{Active: ActiveConfig{Timeout: 10 * time.Second}}, ErrConfig},
		{"ejected percent", Config{MaxEjectedPercent: 101}, ErrConfig},
		{"panic threshold", Config{PanicThreshold: 1.5}, ErrConfig},
		{"tries", Config{Retry: RetryConfig{Tries: -1}}, ErrConfig},
		{"budget", Config{Retry: RetryConfig{Budget: 2}}, ErrConfig},
		{"retry status", Config{Retry: RetryConfig{Statuses: []int{99}}}, ErrConfig},
		{"hash source", Config{HashOn: HashKeySpec{Source: 99}}, ErrConfig},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewUpstream("bad", c.cfg); !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
		})
	}
}
