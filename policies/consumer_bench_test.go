package policies_test

import "testing"

// consumerBenches: key-auth and a per-consumer limit (never reached),
// configured on the route ("route-limit") or as the consumer's own policy
// ("consumer-limit"), where every request merges the consumer's policies
// into its chain when key-auth names the consumer.
func consumerBenches() map[string]authBench {
	req := "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\napikey: " + benchAPIKey + "\r\n\r\n"
	limit := "{ name: limit-count, config: { count: 1000000000, window: 60s, key: consumer } }"
	consumer := func(policies string) string {
		return "shared_dicts: { limits: 1m }\nconsumers:\n  - name: bench\n    credentials: { key_auth: [ { key: \"" + benchAPIKey + "\" } ] }\n" + policies
	}
	return map[string]authBench{
		"key-auth":       {"      - name: key-auth\n" + consumer(""), req},
		"route-limit":    {"      - name: key-auth\n      - " + limit + "\n" + consumer(""), req},
		"consumer-limit": {"      - name: key-auth\n" + consumer("    policies: [ "+limit+" ]\n"), req},
	}
}

func BenchmarkConsumerPolicies(b *testing.B) {
	benches := consumerBenches()
	for _, name := range []string{"key-auth", "route-limit", "consumer-limit"} {
		b.Run("policies="+name, func(b *testing.B) {
			bc := benches[name]
			g := policyGateway(b, bc.policies)
			sc := newSteadyClient(b, g.addr, bc.req)
			sc.run(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			sc.run(b, b.N)
		})
	}
}
