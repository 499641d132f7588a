//go:build !race

package policies_test

import (
	"testing"
)

// TestAuthPoliciesAllocateNothing pins the allocations of a proxied
// keep-alive request through the auth policies on a hit (a cached token, a
// cached password): none beyond the same request on a route without
// policies.
func TestAuthPoliciesAllocateNothing(t *testing.T) {
	benches := authBenches(t)
	measure := func(name string) allocMeasure {
		bc := benches[name]
		return steadyAllocs(func(t testing.TB) *gateway { return policyGateway(t, bc.policies) }, bc.req)
	}
	baseline := isolatedAllocs(t, "baseline", measure("none"))
	t.Logf("baseline (route without policies): %.4f allocations per request", baseline)
	for _, name := range []string{"key-auth", "key-auth+acl", "jwt-auth/HS256", "jwt-auth/RS256", "basic-auth", "ip-restriction"} {
		t.Run(name, func(t *testing.T) {
			requireAllocsWithin(t, baseline, measure("none"), measure(name), 0)
		})
	}
}
