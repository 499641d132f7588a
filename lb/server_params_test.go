package lb

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Tests of nginx's server parameters on TargetSpec: down, backup, and the
// per-target max_fails and fail_timeout.

// mustUpdate applies specs or fails the test.
func mustUpdate(t testing.TB, u *Upstream, sp []TargetSpec) {
	t.Helper()
	if err := u.Update(sp); err != nil {
		t.Fatal(err)
	}
}

// withFlags returns weight-1 specs addressed as specs() does, with marked
// targets down or backup: flags[i] is "", "down", "backup" or "backup,down".
func withFlags(flags ...string) []TargetSpec {
	out := make([]TargetSpec, len(flags))
	for i, f := range flags {
		out[i] = TargetSpec{Addr: addrOf(i), Weight: 1, Down: strings.Contains(f, "down"), Backup: strings.Contains(f, "backup")}
	}
	return out
}

// pickCounts picks n times and counts the picks per target index.
func pickCounts(t testing.TB, u *Upstream, p *Picker, n int, tried *Tried) map[int]int {
	t.Helper()
	counts := map[int]int{}
	key := make([]byte, 2)
	for i := range n {
		key[0], key[1] = byte(i), byte(i>>8)
		counts[indexOf(u, mustPick(t, p, key, tried))]++
	}
	return counts
}

func sameIndexes(counts map[int]int, want ...int) bool {
	if len(counts) != len(want) {
		return false
	}
	for _, i := range want {
		if counts[i] == 0 {
			return false
		}
	}
	return true
}

func TestDownTargetIsNeverPickedButListed(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{Balancer: kind})
			mustUpdate(t, u, withFlags("", "down", "", ""))
			p := u.newPicker(7)
			if got := pickCounts(t, u, p, 2000, nil); !sameIndexes(got, 0, 2, 3) {
				t.Fatalf("picks by target %v, want targets 0, 2 and 3 only", got)
			}
			// Retries skip it too, down to ErrNoTarget.
			var tried Tried
			for range 3 {
				tried.Add(mustPick(t, p, nil, &tried))
			}
			if x, err := p.Pick(nil, &tried); !errors.Is(err, ErrNoTarget) {
				t.Fatalf("fourth try: %v, %v; want ErrNoTarget", x, err)
			}
			st := u.Status()
			if st.Total != 4 || st.Healthy != 3 || st.AdminDown != 1 || st.Panic {
				t.Fatalf("status total %d healthy %d admin_down %d panic %v", st.Total, st.Healthy, st.AdminDown, st.Panic)
			}
			if ts := st.Targets[1]; !ts.Down || ts.State != StateAdminDown {
				t.Fatalf("down target's status %+v", ts)
			}
		})
	}
}

// TestHashDrainMovesOnlyItsKeys: a drained target keeps its Maglev slots,
// so only its own keys move, and they go where they go when it is ejected.
func TestHashDrainMovesOnlyItsKeys(t *testing.T) {
	cfg := Config{Balancer: Hash, HashTableSize: 1009, MaxEjectedPercent: 100}
	drained, _ := newTestUpstream(t, cfg, 1, 2, 1, 3)
	ejected, _ := newTestUpstream(t, cfg, 1, 2, 1, 3)
	pd, pe := drained.newPicker(1), ejected.newPicker(1)
	const keys = 4000
	before := make([]int, keys)
	key := make([]byte, 2)
	for i := range keys {
		key[0], key[1] = byte(i), byte(i>>8)
		before[i] = indexOf(drained, mustPick(t, pd, key, nil))
	}
	sp := specs(1, 2, 1, 3)
	sp[2].Down = true
	mustUpdate(t, drained, sp)
	failTarget(ejected.Snapshot().Targets()[2], 1)
	for i := range keys {
		key[0], key[1] = byte(i), byte(i>>8)
		got := indexOf(drained, mustPick(t, pd, key, nil))
		if got == 2 || (before[i] != 2 && got != before[i]) {
			t.Fatalf("key %d went from target %d to %d after target 2 was drained", i, before[i], got)
		}
		if want := indexOf(ejected, mustPick(t, pe, key, nil)); got != want {
			t.Fatalf("key %d: target %d when 2 is drained, %d when 2 is ejected", i, got, want)
		}
	}
}

func TestAllAdminDownIsErrAllDown(t *testing.T) {
	for _, kind := range allKinds {
		for _, panicAllDown := range []bool{false, true} {
			u, _ := newTestUpstream(t, Config{Balancer: kind, PanicWhenAllDown: panicAllDown})
			mustUpdate(t, u, withFlags("down", "down"))
			if x, err := u.newPicker(1).Pick([]byte("k"), nil); !errors.Is(err, ErrAllDown) {
				t.Errorf("%s, PanicWhenAllDown=%v: %v, %v; want ErrAllDown", kind, panicAllDown, x, err)
			}
			if st := u.Status(); st.Panic || st.Healthy != 0 {
				t.Errorf("%s: status panic %v healthy %d", kind, st.Panic, st.Healthy)
			}
		}
	}
}

func TestDownTargetIsNotProbed(t *testing.T) {
	up, drained := newProbeTarget(t), newProbeTarget(t)
	u := newProbedUpstream(t, ActiveConfig{Type: ProbeHTTP, Timeout: 5 * time.Second, Interval: 10 * time.Second}, up.addr())
	mustUpdate(t, u, []TargetSpec{{Addr: up.addr()}, {Addr: drained.addr(), Down: true}})
	u.CheckNow(context.Background())
	u.CheckNow(context.Background())
	if up.hits.Load() != 2 || drained.hits.Load() != 0 {
		t.Fatalf("probes: %d to the target in rotation (want 2), %d to the drained one (want 0)", up.hits.Load(), drained.hits.Load())
	}
	if st := u.Status().Targets[1]; st.Active == nil || st.Active.Successes != 0 || !st.Active.LastCheck.IsZero() {
		t.Fatalf("drained target's probe status %+v", st.Active)
	}
	// Back in rotation, it is probed again.
	mustUpdate(t, u, []TargetSpec{{Addr: up.addr()}, {Addr: drained.addr()}})
	u.CheckNow(context.Background())
	if drained.hits.Load() != 1 {
		t.Fatalf("undrained target probed %d times, want 1", drained.hits.Load())
	}
}

// TestBackupsOnlyWhenNoPrimary walks an upstream of two primaries and two
// backups through nginx's order: primaries while one is up; backups,
// balanced between them, once every primary is out by health or by the
// operator; primaries again, backups idle, once one is back.
func TestBackupsOnlyWhenNoPrimary(t *testing.T) {
	for _, kind := range []BalancerKind{RoundRobin, LeastConn, PeakEWMA, P2C} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := Config{Balancer: kind, MaxEjectedPercent: 100, Passive: PassiveConfig{FailTimeout: 10 * time.Second}}
			u, clock := newTestUpstream(t, cfg)
			mustUpdate(t, u, withFlags("", "backup", "", "backup"))
			p := u.newPicker(3)
			ts := u.Snapshot().Targets()
			steps := []struct {
				name string
				do   func()
				want []int
			}{
				{"all up: primaries", func() {}, []int{0, 2}},
				{"one primary ejected: the other primary", func() { failTarget(ts[0], 1) }, []int{2}},
				{"both primaries ejected: both backups", func() { failTarget(ts[2], 1) }, []int{1, 3}},
				{"primaries back: backups idle", func() { clock.Advance(10 * time.Second) }, []int{0, 2}},
				{"primaries drained: backups", func() { mustUpdate(t, u, withFlags("down", "backup", "down", "backup")) }, []int{1, 3}},
				{"one primary undrained: primary", func() { mustUpdate(t, u, withFlags("", "backup", "down", "backup")) }, []int{0}},
			}
			for _, step := range steps {
				step.do()
				if got := pickCounts(t, u, p, 400, nil); !sameIndexes(got, step.want...) {
					t.Fatalf("%s: picks by target %v, want targets %v", step.name, got, step.want)
				}
				if p.Panicking() {
					t.Fatalf("%s: panic mode", step.name)
				}
			}
		})
	}
}

// TestBackupsAreBalancedByWeight: backups share by their weights, with the
// upstream's balancer.
func TestBackupsAreBalancedByWeight(t *testing.T) {
	u, _ := newTestUpstream(t, Config{})
	mustUpdate(t, u, []TargetSpec{{Addr: addrOf(0), Down: true}, {Addr: addrOf(1), Weight: 3, Backup: true}, {Addr: addrOf(2), Weight: 1, Backup: true}})
	got := pickCounts(t, u, u.newPicker(1), 400, nil)
	if got[1] != 300 || got[2] != 100 {
		t.Fatalf("backups weighted 3:1 got %v picks", got)
	}
}

// TestRetryGoesToBackupWhenPrimariesTried: as nginx, a request that has
// tried every usable primary moves on to the backups.
func TestRetryGoesToBackupWhenPrimariesTried(t *testing.T) {
	for _, kind := range []BalancerKind{RoundRobin, LeastConn, PeakEWMA, P2C} {
		u, _ := newTestUpstream(t, Config{Balancer: kind})
		mustUpdate(t, u, withFlags("", "backup"))
		p := u.newPicker(1)
		var tried Tried
		first := mustPick(t, p, nil, &tried)
		tried.Add(first)
		second := mustPick(t, p, nil, &tried)
		if indexOf(u, first) != 0 || indexOf(u, second) != 1 {
			t.Errorf("%s: tried targets %d then %d, want the primary then the backup", kind, indexOf(u, first), indexOf(u, second))
		}
	}
}

func TestBackupWithHashIsRefused(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Balancer: Hash}, 1, 1)
	before := u.Snapshot()
	err := u.Update(withFlags("", "backup"))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "backup") || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("err %v, want ErrConfig naming backup and hash", err)
	}
	if u.Snapshot() != before {
		t.Fatal("a refused update replaced the snapshot")
	}
	// Down is fine with hash.
	mustUpdate(t, u, withFlags("", "down"))
}

// TestPanicAndBackups pins the rule of panicRule: backups come before
// panic, the threshold applies to the primaries, and with nothing healthy
// panic is PanicWhenAllDown.
func TestPanicAndBackups(t *testing.T) {
	cases := []struct {
		name       string
		flags      []string
		fail       []int // targets ejected
		allDown    bool  // Config.PanicWhenAllDown
		want       []int // targets picked
		panic      bool
		wantAllErr bool
	}{
		{"primaries below threshold, backup healthy: healthy primary only",
			[]string{"", "", "", "", "backup"}, []int{0, 1, 2}, false, []int{3}, false, false},
		{"primaries below threshold, backup ejected: panic over the primaries",
			[]string{"", "", "", "", "backup"}, []int{0, 1, 2, 4}, false, []int{0, 1, 2, 3}, true, false},
		{"no primary healthy, backup healthy: backup",
			[]string{"", "", "backup"}, []int{0, 1}, false, []int{2}, false, false},
		{"nothing healthy, PanicWhenAllDown: panic over the primaries",
			[]string{"", "", "backup"}, []int{0, 1, 2}, true, []int{0, 1}, true, false},
		{"nothing healthy: ErrAllDown",
			[]string{"", "", "backup"}, []int{0, 1, 2}, false, nil, false, true},
		{"only backups in rotation, none healthy, PanicWhenAllDown: panic over the backups",
			[]string{"down", "backup", "backup"}, []int{1, 2}, true, []int{1, 2}, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 100, PanicWhenAllDown: c.allDown})
			mustUpdate(t, u, withFlags(c.flags...))
			ts := u.Snapshot().Targets()
			for _, i := range c.fail {
				failTarget(ts[i], 1)
			}
			p := u.newPicker(5)
			if c.wantAllErr {
				if _, err := p.Pick(nil, nil); !errors.Is(err, ErrAllDown) {
					t.Fatalf("Pick: %v, want ErrAllDown", err)
				}
				return
			}
			if got := pickCounts(t, u, p, 400, nil); !sameIndexes(got, c.want...) {
				t.Fatalf("picks by target %v, want targets %v", got, c.want)
			}
			if p.Panicking() != c.panic || u.Status().Panic != c.panic {
				t.Fatalf("picker panic %v, status panic %v, want %v", p.Panicking(), u.Status().Panic, c.panic)
			}
		})
	}
}

// TestPanicThresholdIgnoresAdminDown: draining targets must not push an
// upstream into panic mode, and a drained target neither counts as
// ejected nor as capacity for MaxEjectedPercent.
func TestPanicThresholdIgnoresAdminDown(t *testing.T) {
	t.Run("panic", func(t *testing.T) {
		u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 100, PanicThreshold: 0.5})
		mustUpdate(t, u, withFlags("down", "down", "", ""))
		p := u.newPicker(1)
		if pickCounts(t, u, p, 100, nil); p.Panicking() || u.Status().Panic {
			t.Fatal("draining half the targets started panic mode")
		}
		// One of the two in rotation ejected: 1 healthy of 2 is not below
		// 0.5 (it would be, 1 of 4, if drained targets counted).
		failTarget(u.Snapshot().Targets()[2], 1)
		if got := pickCounts(t, u, p, 100, nil); !sameIndexes(got, 3) || p.Panicking() {
			t.Fatalf("picks by target %v, panic %v; want target 3 only, no panic", got, p.Panicking())
		}
		if st := u.Status(); st.Panic || st.Healthy != 1 || st.AdminDown != 2 {
			t.Fatalf("status panic %v healthy %d admin_down %d", st.Panic, st.Healthy, st.AdminDown)
		}
	})
	t.Run("max ejected percent", func(t *testing.T) {
		u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 50}, 1, 1, 1)
		ts := u.Snapshot().Targets()
		failTarget(ts[0], 1)
		mustUpdate(t, u, withFlags("down", "", ""))
		// Target 0 is still ejected but drained: it does not count, so one
		// of the two in rotation may go (one target may always go)...
		failTarget(ts[1], 1)
		if ts[1].Healthy() {
			t.Fatal("ejection refused: the drained, ejected target was counted")
		}
		// ...and not the second: 2 of 2 is over 50%.
		failTarget(ts[2], 1)
		if !ts[2].Healthy() {
			t.Fatal("the cap let every target in rotation go")
		}
		if st := u.Status(); st.Ejections != 2 || st.EjectionsRefused != 1 {
			t.Fatalf("ejections %d refused %d, want 2 and 1", st.Ejections, st.EjectionsRefused)
		}
	})
}

// TestPerTargetMaxFails: a spec's MaxFails and FailTimeout override the
// upstream's, 0 keeps the upstream's and -1 turns max_fails off.
func TestPerTargetMaxFails(t *testing.T) {
	cases := []struct {
		name        string
		spec        TargetSpec
		upFails     int           // failures that still leave it up
		downFor     time.Duration // how long max_fails takes it out
		wantInState int           // TargetStatus.MaxFails
	}{
		{"upstream's", TargetSpec{}, 1, 10 * time.Second, 2},
		{"max_fails=4", TargetSpec{MaxFails: 4}, 3, 10 * time.Second, 4},
		{"max_fails=1", TargetSpec{MaxFails: 1}, 0, 10 * time.Second, 1},
		{"fail_timeout=30s", TargetSpec{FailTimeout: 30 * time.Second}, 1, 30 * time.Second, 2},
		{"max_fails=3 fail_timeout=2s", TargetSpec{MaxFails: 3, FailTimeout: 2 * time.Second}, 2, 2 * time.Second, 3},
		{"max_fails off", TargetSpec{MaxFails: -1}, 1000, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, clock := newTestUpstream(t, Config{MaxEjectedPercent: 100, Passive: PassiveConfig{MaxFails: 2, FailTimeout: 10 * time.Second}})
			sp := c.spec
			sp.Addr = addrOf(0)
			mustUpdate(t, u, []TargetSpec{sp, {Addr: addrOf(1)}})
			x := u.Snapshot().Targets()[0]
			ts := u.Status().Targets[0]
			wantTimeout := c.downFor
			if wantTimeout == 0 {
				wantTimeout = 10 * time.Second
			}
			if ts.MaxFails != c.wantInState || ts.FailTimeoutSeconds != wantTimeout.Seconds() {
				t.Fatalf("status max_fails %d fail_timeout %vs, want %d and %vs", ts.MaxFails, ts.FailTimeoutSeconds, c.wantInState, wantTimeout.Seconds())
			}
			failTarget(x, c.upFails)
			if !x.Healthy() {
				t.Fatalf("down after %d failures", c.upFails)
			}
			if c.downFor == 0 {
				return
			}
			failTarget(x, 1)
			if x.Healthy() {
				t.Fatalf("up after %d failures", c.upFails+1)
			}
			expectBackAfter(t, x, clock, c.downFor)
		})
	}
}

// TestUpdateTogglingDownKeepsCounters: draining and undraining a target is
// an Update like any other; its *Target, counters and health stay.
func TestUpdateTogglingDownKeepsCounters(t *testing.T) {
	u, _ := newTestUpstream(t, Config{MaxEjectedPercent: 100, Passive: PassiveConfig{MaxFails: 3}}, 1, 1)
	x := u.Snapshot().Targets()[0]
	x.Begin()
	x.End(Outcome{Status: 200, Latency: time.Millisecond})
	failTarget(x, 2)
	x.Begin() // in flight across the drain
	before := u.Status().Targets[0]

	for _, down := range []bool{true, false} {
		mustUpdate(t, u, []TargetSpec{{Addr: addrOf(0), Down: down, Weight: 2, MaxFails: 5}, {Addr: addrOf(1)}})
		if got := u.Snapshot().Targets()[0]; got != x {
			t.Fatalf("down=%v: a new *Target for the same address", down)
		}
		st := u.Status().Targets[0]
		if st.Requests != before.Requests || st.Failures != before.Failures || st.InFlight != 1 ||
			st.WindowFails != 2 || st.LatencyEWMAMillis != before.LatencyEWMAMillis {
			t.Fatalf("down=%v: counters %+v, were %+v", down, st, before)
		}
		if st.Down != down || st.Weight != 2 || st.MaxFails != 5 {
			t.Fatalf("down=%v: status %+v", down, st)
		}
	}
	// The window counted before the drain goes on: 3 more failures reach
	// the new max_fails=5.
	failTarget(x, 2)
	if !x.Healthy() {
		t.Fatal("down after 4 of 5")
	}
	failTarget(x, 1)
	if x.Healthy() {
		t.Fatal("up after 5 of 5")
	}
	x.End(Outcome{Status: 200})
}

func TestUpdateRejectsBadServerParams(t *testing.T) {
	for _, sp := range []TargetSpec{
		{Addr: "10.0.0.1:80", MaxFails: -2},
		{Addr: "10.0.0.1:80", MaxFails: maxMaxFails + 1},
		{Addr: "10.0.0.1:80", FailTimeout: -time.Second},
	} {
		u, _ := newTestUpstream(t, Config{})
		if err := u.Update([]TargetSpec{sp}); !errors.Is(err, ErrTarget) {
			t.Errorf("%+v: err %v, want ErrTarget", sp, err)
		}
	}
}

// TestStatusShowsServerParams: the admin view carries upsync's
// upstream_show fields under stable JSON names.
func TestStatusShowsServerParams(t *testing.T) {
	u, _ := newTestUpstream(t, Config{Passive: PassiveConfig{MaxFails: 2, FailTimeout: 10 * time.Second}})
	mustUpdate(t, u, []TargetSpec{
		{Addr: addrOf(0), Weight: 3},
		{Addr: addrOf(1), Backup: true, MaxFails: -1, FailTimeout: 1500 * time.Millisecond},
		{Addr: addrOf(2), Down: true},
	})
	b, err := json.Marshal(u.Status())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		AdminDown     int  `json:"admin_down"`
		Backups       int  `json:"backups"`
		BackupsActive bool `json:"backups_active"`
		Targets       []struct {
			Weight      int     `json:"weight"`
			Down        bool    `json:"down"`
			Backup      bool    `json:"backup"`
			MaxFails    int     `json:"max_fails"`
			FailTimeout float64 `json:"fail_timeout_s"`
			State       string  `json:"state"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.AdminDown != 1 || got.Backups != 1 || got.BackupsActive {
		t.Fatalf("upstream %s", b)
	}
	want := []struct {
		weight       int
		down, backup bool
		maxFails     int
		failTimeout  float64
		state        string
	}{
		{3, false, false, 2, 10, StateHealthy},
		{1, false, true, 0, 1.5, StateHealthy},
		{1, true, false, 2, 10, StateAdminDown},
	}
	for i, w := range want {
		g := got.Targets[i]
		if g.Weight != w.weight || g.Down != w.down || g.Backup != w.backup || g.MaxFails != w.maxFails || g.FailTimeout != w.failTimeout || g.State != w.state {
			t.Errorf("target %d: %+v, want %+v", i, g, w)
		}
	}
}
