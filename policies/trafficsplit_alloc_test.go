//go:build !race

package policies_test

import (
	"testing"
)

// TestTrafficSplitAllocatesNothing: a proxied keep-alive request through
// traffic-split allocates no more than the same request on a route
// without policies.
func TestTrafficSplitAllocatesNothing(t *testing.T) {
	measure := func(t *testing.T, policies string) float64 {
		g := splitAllocGateway(t, policies)
		sc := newSteadyClient(t, g.addr, plainReq)
		sc.run(t, 2000)
		return sc.mallocsPerRequest(t, 20000)
	}
	baseline := measure(t, "")
	t.Logf("baseline: %.4f allocations per request", baseline)
	for _, name := range []string{"round-robin", "hash"} {
		t.Run(name, func(t *testing.T) {
			perReq := measure(t, splitPolicies[name])
			t.Logf("allocations per request: %.4f", perReq)
			if perReq > 0.1 || perReq > baseline+0.01 {
				t.Fatalf("%.4f allocations per request; baseline %.4f", perReq, baseline)
			}
		})
	}
}
