package policies_test

import "testing"

// BenchmarkPolicyOverhead measures a proxied keep-alive request on one
// connection through a route with the new policies, beside the same route
// without policies: the difference is what the policies cost per request
// (the bar: cors + request-id add at most 0.3 µs).
func BenchmarkPolicyOverhead(b *testing.B) {
	for _, bc := range []struct{ name, policies, req string }{
		{"policies=none", "none", corsReq},
		{"policies=cors+request-id", "cors+request-id", corsReq},
		{"policies=cors+request-id/preflight", "cors+request-id", prefReq},
		{"policies=request-id-trusted+cors", "request-id-trusted", idReq},
		{"policies=response-rewrite", "response-rewrite", plainReq},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := policyGateway(b, benchPolicies[bc.policies])
			sc := newSteadyClient(b, g.addr, bc.req)
			sc.run(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			sc.run(b, b.N)
		})
	}
}
