package lb

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests drive by hand.
type fakeClock struct {
	base time.Time
	ns   atomic.Int64
}

func newFakeClock() *fakeClock {
	return &fakeClock{base: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time          { return c.base.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newTestUpstream builds an upstream on a fake clock with the given weights,
// targets addressed 10.0.0.1:80, 10.0.0.2:80, ...
func newTestUpstream(t testing.TB, cfg Config, weights ...int) (*Upstream, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	cfg.Clock = clock.Now
	u, err := NewUpstream("test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Update(specs(weights...)); err != nil {
		t.Fatal(err)
	}
	return u, clock
}

func specs(weights ...int) []TargetSpec {
	out := make([]TargetSpec, len(weights))
	for i, w := range weights {
		out[i] = TargetSpec{Addr: addrOf(i), Weight: w}
	}
	return out
}

func addrOf(i int) string { return fmt.Sprintf("10.0.%d.%d:80", i/250, i%250+1) }

// indexOf returns the position of t in the current snapshot.
func indexOf(u *Upstream, t *Target) int {
	for i, x := range u.Snapshot().Targets() {
		if x == t {
			return i
		}
	}
	return -1
}

func mustPick(t testing.TB, p *Picker, key []byte, tried *Tried) *Target {
	t.Helper()
	x, err := p.Pick(key, tried)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return x
}

// failTarget reports n connect failures on x.
func failTarget(x *Target, n int) {
	for range n {
		x.Begin()
		x.End(Outcome{ConnectFailed: true, Latency: time.Millisecond})
	}
}

// expectBackAfter checks that x, just taken out, stays out until d has
// passed on clock and is back exactly then.
func expectBackAfter(t testing.TB, x *Target, clock *fakeClock, d time.Duration) {
	t.Helper()
	clock.Advance(d - time.Nanosecond)
	if x.Healthy() {
		t.Fatalf("back before %v passed", d)
	}
	clock.Advance(time.Nanosecond)
	if !x.Healthy() {
		t.Fatalf("not back after %v", d)
	}
}

var allKinds = []BalancerKind{RoundRobin, LeastConn, Hash, PeakEWMA, P2C}

// newUpstreamAt builds an upstream on the default clock with weight-1
// targets at the given addresses (real servers).
func newUpstreamAt(t *testing.T, cfg Config, addrs ...string) *Upstream {
	t.Helper()
	u, err := NewUpstream("real", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var sp []TargetSpec
	for _, a := range addrs {
		sp = append(sp, TargetSpec{Addr: a})
	}
	if err := u.Update(sp); err != nil {
		t.Fatal(err)
	}
	return u
}
