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
	casesAllocateNothing(t, measure(""), []allocCase{
		{"round-robin", measure(splitPolicies["round-robin"])},
		{"hash", measure(splitPolicies["hash"])},
	}, 0.1)
}
