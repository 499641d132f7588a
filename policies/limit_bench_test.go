package policies_test

import "testing"

// BenchmarkLimits measures a proxied keep-alive request through each local
// limit beside the same route without policies: the difference is what
// the limit costs per request.
func BenchmarkLimits(b *testing.B) { benchRoutes(b, limitRoutes, limitGatewayFor) }

// benchRoutes runs a steady client's request through each route of
// routes, on a gateway started by start.
func benchRoutes(b *testing.B, routes []struct{ name, items string }, start func(testing.TB, string) *gateway) {
	for _, r := range routes {
		b.Run(r.name, func(b *testing.B) {
			g := start(b, r.items)
			sc := newSteadyClient(b, g.addr, plainReq)
			sc.run(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			sc.run(b, b.N)
		})
	}
}

// limitRoutes are the limit configurations of the allocation tests and
// benchmarks; none is ever reached (the requests must be proxied), and the
// limit reported in the X-RateLimit fields stays the same, so that every
// response has the length the steady client learned from the first.
var limitRoutes = []struct{ name, items string }{
	{"none", ""},
	{"limit-count/fixed", "      - { name: limit-count, config: { count: 1000000000, window: 1h } }\n"},
	{"limit-count/sliding+2-limits", "      - { name: limit-count, config: { limits: [ { count: 2000000000, window: 1s }, { count: 1000000000, window: 24h } ], window_type: sliding, key: header:User-Agent } }\n"},
	{"limit-count/template-key", `      - { name: limit-count, config: { count: 1000000000, window: 1m, key: "{http_user_agent}:{arg_id}" } }` + "\n"},
	{"limit-req/nodelay", "      - { name: limit-req, config: { rate: 1000000r/s, burst: 1000000, nodelay: true } }\n"},
	{"limit-conn", "      - { name: limit-conn, config: { max: 1000 } }\n"},
}

// limitGatewayFor starts a gateway whose only route carries items.
func limitGatewayFor(t testing.TB, items string) *gateway {
	up := fixedUpstream(t, []byte(fixedResp))
	yml := "shared_dicts: { limits: 4MiB }\n" + routeYAML(items)
	if items == "" {
		yml = yml[:len(yml)-len("    policies:\n")]
	}
	return startGateway(t, up, yml)
}
