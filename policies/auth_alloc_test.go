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
	var cases []allocCase
	for _, name := range []string{"key-auth", "key-auth+acl", "jwt-auth/HS256", "jwt-auth/RS256", "basic-auth", "ip-restriction"} {
		cases = append(cases, allocCase{name, measure(name)})
	}
	casesAllocateNothing(t, measure("none"), cases, 0)
}
