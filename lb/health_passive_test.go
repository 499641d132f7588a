package lb

import (
	"testing"
	"time"
)

// TestMaxFailsWithinFailTimeout pins nginx's semantics: max_fails failures
// within fail_timeout take the target out for fail_timeout, then it is back.
func TestMaxFailsWithinFailTimeout(t *testing.T) {
	u, clock := newTestUpstream(t, Config{Passive: PassiveConfig{MaxFails: 3, FailTimeout: 10 * time.Second}}, 1, 1)
	x := u.Snapshot().Targets()[0]

	failTarget(x, 2)
	if !x.Healthy() {
		t.Fatal("down after 2 of 3 failures")
	}
	clock.Advance(5 * time.Second)
	failTarget(x, 1)
	if x.Healthy() {
		t.Fatal("still up after 3 failures within 10s")
	}
	expectBackAfter(t, x, clock, 10*time.Second)
}

func TestFailuresOutsideWindowDoNotAccumulate(t *testing.T) {
	u, clock := newTestUpstream(t, Config{Passive: PassiveConfig{MaxFails: 2, FailTimeout: time.Second}}, 1, 1)
	x := u.Snapshot().Targets()[0]
	for range 5 {
		failTarget(x, 1)
		clock.Advance(1100 * time.Millisecond)
	}
	if !x.Healthy() {
		t.Fatal("failures 1.1s apart took the target out with fail_timeout 1s")
	}
}

func TestMaxFailsOff(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Passive: PassiveConfig{MaxFails: -1}}, 1, 1)
	x := u.Snapshot().Targets()[0]
	failTarget(x, 100)
	if !x.Healthy() {
		t.Fatal("max_fails -1 still ejects")
	}
}

func TestWhatCountsAsFailure(t *testing.T) {
	cases := []struct {
		name     string
		o        Outcome
		statuses []int
		down     bool
	}{
		{"connect failure", Outcome{ConnectFailed: true}, nil, true},
		{"timeout", Outcome{TimedOut: true}, nil, true},
		{"io error", Outcome{IOError: true}, nil, true},
		{"invalid header", Outcome{InvalidHeader: true}, nil, true},
		{"502 by default is not", Outcome{Status: 502}, nil, false},
		{"502 when listed", Outcome{Status: 502}, []int{502}, true},
		{"200", Outcome{Status: 200}, []int{502}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Passive: PassiveConfig{FailStatuses: c.statuses}}, 1, 1)
			x := u.Snapshot().Targets()[0]
			x.Begin()
			x.End(c.o)
			if down := !x.Healthy(); down != c.down {
				t.Fatalf("down=%v, want %v", down, c.down)
			}
		})
	}
}

func TestConsecutive5xxEjection(t *testing.T) {
	cfg := Config{Passive: PassiveConfig{MaxFails: -1, Consecutive5xx: 3, EjectionTime: 30 * time.Second, MaxEjectionTime: 70 * time.Second}}
	u, clock := newTestUpstream(t, cfg, 1, 1)
	x := u.Snapshot().Targets()[0]
	end := func(status int) { x.Begin(); x.End(Outcome{Status: status}) }

	end(500)
	end(503)
	end(200) // a success breaks the run
	end(500)
	end(500)
	if !x.Healthy() {
		t.Fatal("ejected after 2 in a row")
	}
	end(500)
	if x.Healthy() {
		t.Fatal("not ejected after 3 in a row")
	}
	if st := x.status(u.core.now(), false); st.DownReason != "consecutive_5xx" {
		t.Fatalf("reason %q", st.DownReason)
	}
	clock.Advance(30 * time.Second)
	if !x.Healthy() {
		t.Fatal("not back after the ejection time")
	}
	// Failing again right away doubles the ejection time, capped at 70s.
	for range 3 {
		end(500)
	}
	clock.Advance(59 * time.Second)
	if x.Healthy() {
		t.Fatal("second ejection shorter than 2×30s")
	}
	clock.Advance(time.Second)
	if !x.Healthy() {
		t.Fatal("second ejection longer than 2×30s")
	}
	for range 3 {
		end(500)
	}
	clock.Advance(70 * time.Second)
	if !x.Healthy() {
		t.Fatal("third ejection beyond MaxEjectionTime")
	}
	// A success resets the multiplier.
	end(200)
	for range 3 {
		end(500)
	}
	clock.Advance(30 * time.Second)
	if !x.Healthy() {
		t.Fatal("multiplier not reset by a success")
	}
}

func TestConsecutiveGatewayErrors(t *testing.T) {
	cfg := Config{Passive: PassiveConfig{MaxFails: -1, ConsecutiveGatewayErrors: 2}}
	u, _ := newTestUpstream(t, cfg, 1, 1)
	x := u.Snapshot().Targets()[0]
	x.Begin()
	x.End(Outcome{Status: 502})
	x.Begin()
	x.End(Outcome{Status: 500}) // a 5xx that is not a gateway error breaks the run
	x.Begin()
	x.End(Outcome{TimedOut: true})
	if !x.Healthy() {
		t.Fatal("ejected without 2 gateway errors in a row")
	}
	x.Begin()
	x.End(Outcome{Status: 504})
	if x.Healthy() {
		t.Fatal("not ejected after 2 gateway errors in a row")
	}
}

// TestMaxEjectedPercent: with 50% of 4 targets, a third ejection is refused.
func TestMaxEjectedPercent(t *testing.T) {
	u, clock := newTestUpstream(t, Config{MaxEjectedPercent: 50}, 1, 1, 1, 1)
	ts := u.Snapshot().Targets()
	for _, x := range ts {
		failTarget(x, 1)
	}
	down := 0
	for _, x := range ts {
		if !x.Healthy() {
			down++
		}
	}
	if down != 2 {
		t.Fatalf("%d of 4 down, want 2 (50%%)", down)
	}
	st := u.Status()
	if st.EjectionsRefused != 2 || st.Ejections != 2 {
		t.Fatalf("ejections %d, refused %d", st.Ejections, st.EjectionsRefused)
	}
	// Once the first ones come back, the others may go.
	clock.Advance(10 * time.Second)
	failTarget(ts[2], 1)
	if ts[2].Healthy() {
		t.Fatal("ejection refused after the others came back")
	}
}

func TestOneTargetMayAlwaysBeEjected(t *testing.T) {
	u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 1}, 1, 1, 1)
	x := u.Snapshot().Targets()[0]
	failTarget(x, 1)
	if x.Healthy() {
		t.Fatal("the first ejection was refused")
	}
}

// TestLateFailuresDoNotExtendEjection: attempts begun before an ejection
// and failing after it must not push the end of the ejection further.
func TestLateFailuresDoNotExtendEjection(t *testing.T) {
	u, clock := newTestUpstream(t, Config{}, 1, 1)
	x := u.Snapshot().Targets()[0]
	for range 5 {
		x.Begin()
	}
	x.End(Outcome{ConnectFailed: true})
	clock.Advance(5 * time.Second)
	for range 4 {
		x.End(Outcome{ConnectFailed: true})
	}
	clock.Advance(5 * time.Second)
	if !x.Healthy() {
		t.Fatal("late failures extended the ejection")
	}
	if x.InFlight() != 0 {
		t.Fatalf("in flight %d", x.InFlight())
	}
}

func TestCancelOnlyLowersInFlight(t *testing.T) {
	u, _ := newTestUpstream(t, Config{}, 1)
	x := u.Snapshot().Targets()[0]
	x.Begin()
	x.Cancel()
	st := x.status(u.core.now(), false)
	if st.InFlight != 0 || st.Requests != 0 || !x.Healthy() {
		t.Fatalf("after Cancel: %+v", st)
	}
}

func TestEWMAPeakAndDecay(t *testing.T) {
	u, clock := newTestUpstream(t, Config{EWMA: EWMAConfig{Decay: 10 * time.Second, DefaultRTT: 10 * time.Millisecond}}, 1)
	x := u.Snapshot().Targets()[0]
	ms := func() float64 { return x.ewmaAt(u.core.now()) / float64(time.Millisecond) }
	if got := ms(); got != 10 {
		t.Fatalf("initial estimate %vms, want the default 10ms", got)
	}
	x.Begin()
	x.End(Outcome{Latency: 100 * time.Millisecond, Status: 200})
	if got := ms(); got != 100 {
		t.Fatalf("after a 100ms peak: %vms", got)
	}
	clock.Advance(10 * time.Second)
	if got := ms(); got < 36.7 || got > 36.8 {
		t.Fatalf("after one time constant: %vms, want 100/e", got)
	}
	x.Begin()
	x.End(Outcome{Latency: 20 * time.Millisecond, Status: 200})
	// 100·e^-1 + 20·(1-e^-1) = 36.79 + 12.64
	if got := ms(); got < 49.4 || got > 49.5 {
		t.Fatalf("averaged estimate %vms, want 49.43", got)
	}
	// A fast failure must not look fast: it doubles the estimate.
	x.Begin()
	x.End(Outcome{Latency: time.Millisecond, ConnectFailed: true})
	if got := ms(); got < 98.8 || got > 99 {
		t.Fatalf("after a fast failure %vms, want about 2×49.43", got)
	}
}
