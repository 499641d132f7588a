//go:build !race

package policies_test

import "testing"

// TestConsumerPoliciesAllocateNothing: merging a consumer's policies into
// the request's chain happens in the context's own buffers, so a request
// whose consumer has its own limit allocates no more than the same limit
// on the route.
func TestConsumerPoliciesAllocateNothing(t *testing.T) {
	benches := consumerBenches()
	// The count is the process's: whatever else runs meanwhile (another
	// test's gateway winding down, the collector) adds to it. The least of
	// three runs is the request's own.
	measure := func(t *testing.T, name string) float64 {
		bc := benches[name]
		g := policyGateway(t, bc.policies)
		sc := newSteadyClient(t, g.addr, bc.req)
		sc.run(t, 2000)
		least := sc.mallocsPerRequest(t, 20000)
		for range 2 {
			least = min(least, sc.mallocsPerRequest(t, 20000))
		}
		return least
	}
	baseline := measure(t, "route-limit")
	t.Logf("baseline (the limit on the route): %.4f allocations per request", baseline)
	perReq := measure(t, "consumer-limit")
	t.Logf("the limit as the consumer's own policy: %.4f allocations per request", perReq)
	if perReq > baseline+0.01 {
		t.Fatalf("%.4f allocations per request; the route's limit costs %.4f", perReq, baseline)
	}
}
