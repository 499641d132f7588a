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
	measure := func(t *testing.T, name string) float64 {
		bc := benches[name]
		g := policyGateway(t, bc.policies)
		sc := newSteadyClient(t, g.addr, bc.req)
		sc.run(t, 2000)
		return sc.mallocsPerRequest(t, 20000)
	}
	baseline := measure(t, "none")
	t.Logf("baseline (route without policies): %.4f allocations per request", baseline)
	for _, name := range []string{"key-auth", "key-auth+acl", "jwt-auth/HS256", "jwt-auth/RS256", "basic-auth", "ip-restriction"} {
		t.Run(name, func(t *testing.T) {
			perReq := measure(t, name)
			t.Logf("allocations per request: %.4f", perReq)
			if perReq > baseline+0.01 {
				t.Fatalf("%.4f allocations per request; baseline %.4f", perReq, baseline)
			}
		})
	}
}
