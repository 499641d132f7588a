//go:build !race

package policies_test

import (
	"testing"
)

// TestPoliciesAllocateNothing pins the allocations of a proxied keep-alive
// request through the new policies: none beyond those of the same request
// on a route without policies (the engine's own budget is 0.1 per request,
// process-wide, client and upstream included).
func TestPoliciesAllocateNothing(t *testing.T) {
	measure := func(t *testing.T, policies, req string) float64 {
		g := policyGateway(t, benchPolicies[policies])
		sc := newSteadyClient(t, g.addr, req)
		sc.run(t, 2000) // warm every buffer
		return sc.mallocsPerRequest(t, 20000)
	}
	baseline := measure(t, "none", corsReq)
	t.Logf("baseline (route without policies): %.4f allocations per request", baseline)
	for _, tc := range []struct{ name, policies, req string }{
		{"cors+request-id/actual", "cors+request-id", corsReq},
		{"cors+request-id/preflight", "cors+request-id", prefReq},
		{"cors+request-id/no-origin", "cors+request-id", plainReq},
		{"request-id-trusted", "request-id-trusted", idReq},
		{"response-rewrite", "response-rewrite", plainReq},
	} {
		t.Run(tc.name, func(t *testing.T) {
			perReq := measure(t, tc.policies, tc.req)
			t.Logf("allocations per request: %.4f", perReq)
			if perReq > 0.1 || perReq > baseline+0.01 {
				t.Fatalf("%.4f allocations per request; baseline %.4f, budget 0.1", perReq, baseline)
			}
		})
	}
}
