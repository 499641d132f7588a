//go:build !race

package policies_test

import (
	"testing"
)

// TestTrafficSplitAllocatesNothing: a proxied keep-alive request through
// traffic-split allocates no more than the same request on a route
// without policies.
func TestTrafficSplitAllocatesNothing(t *testing.T) {
	measure := func(policies string) allocMeasure {
		return steadyAllocs(func(t testing.TB) *gateway { return splitAllocGateway(t, policies) }, plainReq)
	}
	baseline := isolatedAllocs(t, "baseline", measure(""))
	t.Logf("baseline: %.4f allocations per request", baseline)
	for _, name := range []string{"round-robin", "hash"} {
		t.Run(name, func(t *testing.T) {
			requireAllocsWithin(t, baseline, measure(""), measure(splitPolicies[name]), 0.1)
		})
	}
}
