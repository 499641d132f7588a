//go:build !race

package policies_test

import "testing"

// TestConsumerPoliciesAllocateNothing: merging a consumer's policies into
// the request's chain happens in the context's own buffers, so a request
// whose consumer has its own limit allocates no more than the same limit
// on the route.
func TestConsumerPoliciesAllocateNothing(t *testing.T) {
	benches := consumerBenches()
	measure := func(name string) allocMeasure {
		bc := benches[name]
		return steadyAllocs(func(t testing.TB) *gateway { return policyGateway(t, bc.policies) }, bc.req)
	}
	baseline := isolatedAllocs(t, "baseline", measure("route-limit"))
	t.Logf("baseline (the limit on the route): %.4f allocations per request", baseline)
	requireAllocsWithin(t, baseline, measure("route-limit"), measure("consumer-limit"), 0)
}
