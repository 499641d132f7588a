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
	measure := func(policies, req string) allocMeasure {
		return steadyAllocs(func(t testing.TB) *gateway { return policyGateway(t, benchPolicies[policies]) }, req)
	}
	baseline := isolatedAllocs(t, "baseline", measure("none", corsReq))
	t.Logf("baseline (route without policies): %.4f allocations per request", baseline)
	for _, tc := range []struct{ name, policies, req string }{
		{"cors+request-id/actual", "cors+request-id", corsReq},
		{"cors+request-id/preflight", "cors+request-id", prefReq},
		{"cors+request-id/no-origin", "cors+request-id", plainReq},
		{"request-id-trusted", "request-id-trusted", idReq},
		{"response-rewrite", "response-rewrite", plainReq},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireAllocsWithin(t, baseline, measure("none", corsReq), measure(tc.policies, tc.req), 0.1)
		})
	}
}
