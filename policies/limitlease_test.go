package policies_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
	"github.com/sluice-gw/sluice/redis/redistest"
)

// limit-count with policy: redis-lease through the engine (in-process, one
// gateway, a real redis-server): the answers and their headers, and the
// leases through a reload.

// leaseGateway is an in-process gateway with Redis at addr and, on route
// api, a limit-count of redis-lease with config.
func leaseGateway(t *testing.T, addr, config string) (*enginetest.Gateway, string) {
	t.Helper()
	yml := limitYAML("redis: { addresses: ["+addr+"] }\n", "      - { name: limit-count, config: { policy: redis-lease, key: header:X-Api-Key, "+config+" } }\n")
	g := enginetest.New(t, yml, policies.Build, nil)
	// The client connects in the background: until then requests pass
	// uncounted.
	for deadline := time.Now().Add(15 * time.Second); limitGet(g, "/", "X-Api-Key: probe").Header.Get("X-RateLimit-Limit") == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no counted request within 15s")
		}
	}
	return g, yml
}

// On one gateway, X-RateLimit-Remaining is what Redis has left plus the
// lease in hand: count minus the admitted requests, but for a moment
// while the next lease lands (up to one lease fewer). A refusal has
// Retry-After.
func TestLimitLeaseHeaders(t *testing.T) {
	rs := redistest.Start(t)
	g, _ := leaseGateway(t, rs.Addr(), "count: 30, window: 1h, lease: 10")
	for i := 0; i < 30; i++ {
		resp := limitGet(g, "/", "X-Api-Key: k")
		exact := 30 - 1 - i
		left, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "30" || left > exact || left < exact-10 {
			t.Fatalf("request %d: %d, Limit %q, Remaining %q (want %d, or up to a lease fewer)", i, resp.StatusCode,
				resp.Header.Get("X-RateLimit-Limit"), resp.Header.Get("X-RateLimit-Remaining"), exact)
		}
	}
	resp := limitGet(g, "/", "X-Api-Key: k")
	if resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v", resp.StatusCode, resp.Header)
	}
}

// A reload that keeps the limit keeps the gateway's lease; one that drops
// it gives the unspent part back to Redis once the old version retires.
func TestLimitLeaseThroughReloads(t *testing.T) {
	rs := redistest.Start(t)
	g, yml := leaseGateway(t, rs.Addr(), "count: 1000, window: 1h, lease: 100")
	for i := 0; i < 3; i++ {
		if resp := limitGet(g, "/", "X-Api-Key: k"); resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
	}
	key := "sluice:lc:{route:api/limit-count|vk}:0:" + strconv.FormatInt(time.Now().UnixNano()/int64(time.Hour), 36)
	counted := func() int64 {
		out, err := rs.Do("GET", key)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(out, 10, 64)
		return n
	}
	if n := counted(); n != 100 {
		keys, _ := rs.Do("KEYS", "*")
		t.Fatalf("Redis counts %d after one lease of 100 (keys %s)", n, keys)
	}
	// An edit of the count: the same identity, the same lease.
	if err := g.Reload(yml[:len(yml)-len("count: 1000, window: 1h, lease: 100 } }\n")] + "count: 2000, window: 1h, lease: 100 } }\n"); err != nil {
		t.Fatal(err)
	}
	limitGet(g, "/", "X-Api-Key: k")
	if n := counted(); n != 100 {
		t.Fatalf("Redis counts %d after a reload that kept the limit, want 100", n)
	}
	// The limit dropped: its lease goes back, but for the 4 spent.
	if err := g.Reload(limitYAML("redis: { addresses: ["+rs.Addr()+"] }\n", "")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); counted() != 4; time.Sleep(20 * time.Millisecond) {
		limitGet(g, "/") // the old version retires once the worker moves on
		if time.Now().After(deadline) {
			t.Fatalf("Redis counts %d 10s after the limit was dropped, want 4", counted())
		}
	}
}
