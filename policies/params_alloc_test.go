//go:build !race

package policies_test

import (
	"testing"
)

// TestParamsQueryAllocatesNothing is the bar: checking a GET with
// query parameters only allocates nothing beyond a route without
// policies, whether the request is forwarded as it came or its target is
// rebuilt (an undeclared parameter removed, a default filled in).
func TestParamsQueryAllocatesNothing(t *testing.T) {
	measure := func(policies, req string) allocMeasure {
		return steadyAllocs(func(t testing.TB) *gateway { return policyGateway(t, policies) }, req)
	}
	baseline := isolatedAllocs(t, "baseline", measure("", paramsReqClean))
	t.Logf("baseline (route without policies): %.4f allocations per request", baseline)
	for _, tc := range []struct{ name, req string }{
		{"valid-query", paramsReqClean},
		{"undeclared-removed", paramsReqStrip},
		{"default-filled", "GET /api/v1/items?id=7 HTTP/1.1\r\nHost: api.example.com\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireAllocsWithin(t, baseline, measure("", paramsReqClean), measure(paramsBenchPolicy, tc.req), 0.1)
		})
	}
}
