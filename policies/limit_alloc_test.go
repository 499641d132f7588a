//go:build !race

package policies_test

import (
	"testing"

	"github.com/sluice-gw/sluice/redis/redistest"
)

// TestLimitsAllocateNothing pins the local limits' allocations: none
// beyond those of the same request on a route without policies.
func TestLimitsAllocateNothing(t *testing.T) {
	routesAllocateNothing(t, limitRoutes, limitGatewayFor)
}

// routesAllocateNothing checks that a steady client's request allocates
// on each route of routes no more than on the first (one without
// policies), started by start.
//
// The count is the process's. Each measurement runs in a subtest of its
// own, so that its gateway, upstream and Redis client are stopped before
// the next one starts: a gateway left running (its Redis client's pings,
// its timers) allocated in the background in proportion to the time a
// measurement took, and a route slower than the baseline (a Redis round
// trip per request) was charged about 0.01 allocations per request for
// it. A route over budget is measured again, twice at most, beside a new
// baseline, and judged by the least of each: the goroutines of the
// runtime and of the test itself still add to the count on a loaded
// machine, never take from it.
func routesAllocateNothing(t *testing.T, routes []struct{ name, items string }, start func(testing.TB, string) *gateway) {
	measure := func(t *testing.T, name, items string) float64 {
		var perReq float64
		t.Run(name, func(t *testing.T) {
			g := start(t, items)
			sc := newSteadyClient(t, g.addr, plainReq)
			sc.run(t, 2000)
			perReq = sc.mallocsPerRequest(t, 20000)
		})
		return perReq
	}
	over := func(perReq, baseline float64) bool { return perReq > 0.1 || perReq > baseline+0.01 }
	baseline := measure(t, "baseline", routes[0].items)
	t.Logf("baseline (route without policies): %.4f allocations per request", baseline)
	for _, r := range routes[1:] {
		t.Run(r.name, func(t *testing.T) {
			perReq := measure(t, "measure", r.items)
			base := baseline
			for try := 0; try < 2 && over(perReq, base); try++ {
				t.Logf("allocations per request: %.4f (baseline %.4f); measuring both again", perReq, base)
				base = min(base, measure(t, "baseline", routes[0].items))
				perReq = min(perReq, measure(t, "measure", r.items))
			}
			t.Logf("allocations per request: %.4f (baseline %.4f)", perReq, base)
			if over(perReq, base) {
				t.Fatalf("%.4f allocations per request; baseline %.4f, budget 0.1", perReq, base)
			}
		})
	}
}

// TestRedisLimitAllocatesNothing: a limit-count, limit-req or limit-conn decided in
// Redis on the worker's loop allocates nothing either (the command is built in the
// request's scratch, the reply read where it lies).
func TestRedisLimitAllocatesNothing(t *testing.T) {
	rs := redistest.Start(t)
	routesAllocateNothing(t, []struct{ name, items string }{
		{"none", ""},
		{"limit-count/redis", "      - { name: limit-count, config: { count: 1000000000, window: 1h, policy: redis, fault_tolerant: false } }\n"},
		{"limit-count/redis/sliding+2-limits", "      - { name: limit-count, config: { limits: [ { count: 2000000000, window: 1s }, { count: 1000000000, window: 24h } ], window_type: sliding, policy: redis, fault_tolerant: false } }\n"},
		{"limit-count/redis/template-key", `      - { name: limit-count, config: { count: 1000000000, window: 1h, policy: redis, fault_tolerant: false, key: "{http_user_agent}:{arg_id}" } }` + "\n"},
		{"limit-req/redis", "      - { name: limit-req, config: { rate: 1000000r/s, burst: 1000000, nodelay: true, policy: redis, fault_tolerant: false } }\n"},
		{"limit-conn/redis", "      - { name: limit-conn, config: { max: 1000, policy: redis, fault_tolerant: false } }\n"},
	}, func(t testing.TB, items string) *gateway {
		up := fixedUpstream(t, []byte(fixedResp))
		yml := "redis: { addresses: [" + rs.Addr() + "] }\n" + routeYAML(items)
		if items == "" {
			yml = yml[:len(yml)-len("    policies:\n")]
		}
		return startGateway(t, up, yml)
	})
}
