package policies_test

import (
	"testing"
	"time"

	"github.com/sluice-gw/sluice/redis/redistest"
)

// BenchmarkLimitLease measures a proxied keep-alive request through
// limit-count with policy: redis-lease, spent from the lease in hand (a
// lease of 10,000,000 is taken by the warm-up's first request and never
// runs low), beside the same route with the local policy and without
// policies.
func BenchmarkLimitLease(b *testing.B) {
	rs := redistest.Start(b)
	benchRoutes(b, leaseRoutes, func(t testing.TB, items string) *gateway {
		return leaseGatewayFor(t, rs.Addr(), items)
	})
}

// leaseRoutes are the configurations of BenchmarkLimitLease and
// TestLimitLeaseAllocatesNothing: every response has the same length (the
// remaining count keeps its number of digits), and no window ends while
// they run (a new window takes a lease: Redis calls, which allocate).
var leaseRoutes = []struct{ name, items string }{
	{"none", ""},
	{"limit-count/local", "      - { name: limit-count, config: { count: 1000000000, window: 1h } }\n"},
	{"limit-count/redis-lease", "      - { name: limit-count, config: { count: 1000000000, window: 1h, policy: redis-lease } }\n"},
	{"limit-count/redis-lease,sliding+2-limits", "      - { name: limit-count, config: { limits: [ { count: 2000000000, window: 1h }, { count: 1000000000, window: 24h } ], window_type: sliding, policy: redis-lease, key: header:User-Agent } }\n"},
}

// leaseGatewayFor starts a gateway with Redis at redisAddr whose only route
// carries items, and waits until a limit on it counts.
func leaseGatewayFor(t testing.TB, redisAddr, items string) *gateway {
	up := fixedUpstream(t, []byte(fixedResp))
	yml := "redis: { addresses: [" + redisAddr + "] }\nshared_dicts: { limits: 4MiB }\n" + routeYAML(items)
	if items == "" {
		yml = yml[:len(yml)-len("    policies:\n")]
	}
	g := startGateway(t, up, yml)
	if items != "" {
		waitCounted(t, g.addr)
	}
	return g
}

// waitCounted waits until a request is counted (has X-RateLimit fields):
// the gateway's Redis client is connected and the first lease taken.
func waitCounted(t testing.TB, addr string) {
	t.Helper()
	cl := dial(t, addr)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, _ := cl.do("GET", "/api/v1/items?id=42", "User-Agent: bench/1.0")
		if resp.Header.Get("X-RateLimit-Limit") != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no counted request within 15s", addr)
		}
	}
}
