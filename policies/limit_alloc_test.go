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
// policies), started by start; allocjudge_test.go says how.
func routesAllocateNothing(t *testing.T, routes []struct{ name, items string }, start func(testing.TB, string) *gateway) {
	route := func(items string) allocMeasure {
		return steadyAllocs(func(t testing.TB) *gateway { return start(t, items) }, plainReq)
	}
	var cases []allocCase
	for _, r := range routes[1:] {
		cases = append(cases, allocCase{r.name, route(r.items)})
	}
	casesAllocateNothing(t, route(routes[0].items), cases, 0.1)
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
