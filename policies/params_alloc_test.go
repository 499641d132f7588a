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
	casesAllocateNothing(t, measure("", paramsReqClean), []allocCase{
		{"valid-query", measure(paramsBenchPolicy, paramsReqClean)},
		{"undeclared-removed", measure(paramsBenchPolicy, paramsReqStrip)},
		{"default-filled", measure(paramsBenchPolicy, "GET /api/v1/items?id=7 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")},
	}, 0.1)
}
