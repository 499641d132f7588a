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
	casesAllocateNothing(t, measure("none", corsReq), []allocCase{
		{"cors+request-id/actual", measure("cors+request-id", corsReq)},
		{"cors+request-id/preflight", measure("cors+request-id", prefReq)},
		{"cors+request-id/no-origin", measure("cors+request-id", plainReq)},
		{"request-id-trusted", measure("request-id-trusted", idReq)},
		{"response-rewrite", measure("response-rewrite", plainReq)},
	}, 0.1)
}
