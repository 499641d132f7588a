package discovery_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/discovery/consultest"
)

// Propagation: from just before a change is written to Consul until
// discovery has applied the new target set to the lb group (the snapshot
// every worker reads next), over 100 changes, one at a time, each made when
// the previous one was applied. The bar is p99 <= 50ms end to end;
// the test logs the figures.
//
// Back to back, the changes come faster than the default rate_limit (10
// queries per second per watch): the token bucket then holds each query up
// to 100ms, which is what it is for (a stream of changes is coalesced).
// These tests raise rate_limit to 200 to measure the watch itself;
// TestPropagationKVDefaultRateLimit paces the changes below the default.
func TestPropagationKV(t *testing.T) {
	agent := consultest.Start(t)
	r := startRig(t, agent, parseConfig(t, agent.Addr(), `consul: {address: "{consul}", rate_limit: 200}
upstreams:
  - name: prop
    discovery: {type: consul_kv, key: upstreams/prop}
`))
	r.put("upstreams/prop/10.0.0.1:80", "")
	r.waitRotation("prop", "10.0.0.1:80*1")
	d := measure(t, r.appliedCh("prop"), 0, func(i int) {
		if i%2 == 0 {
			r.put(fmt.Sprintf("upstreams/prop/10.0.1.%d:80", i), "")
		} else {
			r.put("upstreams/prop/10.0.0.1:80", fmt.Sprintf(`{"weight":%d}`, i+1))
		}
	})
	report(t, "consul_kv put -> lb.Upstream.Update applied", d)
}

// With the default rate_limit, changes 110ms apart (under 10 per second).
func TestPropagationKVDefaultRateLimit(t *testing.T) {
	agent := consultest.Start(t)
	r := startRig(t, agent, parseConfig(t, agent.Addr(), `consul: {address: "{consul}"}
upstreams:
  - name: prop
    discovery: {type: consul_kv, key: upstreams/prop}
`))
	r.put("upstreams/prop/10.0.0.1:80", "")
	r.waitRotation("prop", "10.0.0.1:80*1")
	d := measure(t, r.appliedCh("prop"), 110*time.Millisecond, func(i int) {
		r.put("upstreams/prop/10.0.0.1:80", fmt.Sprintf(`{"weight":%d}`, i+2))
	})
	report(t, "consul_kv put -> applied, default rate_limit, changes 110ms apart", d)
}

func TestPropagationCatalog(t *testing.T) {
	agent := consultest.Start(t)
	r := startRig(t, agent, parseConfig(t, agent.Addr(), `consul: {address: "{consul}", rate_limit: 200}
upstreams:
  - name: users
    discovery: {type: consul, service: users}
`))
	register(t, r.client, "base", "10.0.0.1", 80)
	r.waitRotation("users", "10.0.0.1:80*1")
	d := measure(t, r.appliedCh("users"), 0, func(i int) {
		if i%2 == 0 {
			register(t, r.client, fmt.Sprintf("i%d", i), fmt.Sprintf("10.0.1.%d", i), 80)
		} else if err := r.client.Agent().ServiceDeregister(fmt.Sprintf("i%d", i-1)); err != nil {
			t.Fatal(err)
		}
	})
	report(t, "catalog register/deregister -> lb.Upstream.Update applied", d)
}

// measure makes 100 changes one at a time, at least gap apart, and returns
// how long each took to be applied.
func measure(t *testing.T, applied chan time.Time, gap time.Duration, change func(i int)) []time.Duration {
	var d []time.Duration
	for i := range 100 {
		if i > 0 && gap > 0 {
			time.Sleep(gap - d[len(d)-1])
		}
		t0 := time.Now()
		change(i)
		select {
		case at := <-applied:
			d = append(d, at.Sub(t0))
		case <-time.After(5 * time.Second):
			t.Fatalf("change %d not applied within 5s", i)
		}
	}
	return d
}

func report(t *testing.T, what string, d []time.Duration) {
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	t.Logf("propagation, %s, %d changes: p50 %v, p90 %v, p99 %v, max %v", what, len(d), p(0.50), p(0.90), p(0.99), d[len(d)-1])
	// The bar (50ms) is reported, not asserted: a loaded test machine
	// under -race misses it for reasons of its own. 3s (past the watch's
	// backoff cap) is a regression: a change waited for a poll.
	if p(0.99) > 3*time.Second {
		t.Errorf("p99 %v > 3s", p(0.99))
	}
}
