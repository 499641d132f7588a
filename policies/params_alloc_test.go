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
	measure := func(t *testing.T, policies, req string) float64 {
		g := policyGateway(t, policies)
		sc := newSteadyClient(t, g.addr, req)
		sc.run(t, 2000)
		return sc.mallocsPerRequest(t, 20000)
	}
	baseline := measure(t, "", paramsReqClean)
	t.Logf("baseline (route without policies): %.4f allocations per request", baseline)
	for _, tc := range []struct{ name, req string }{
		{"valid-query", paramsReqClean},
		{"undeclared-removed", paramsReqStrip},
		{"default-filled", "GET /api/v1/items?id=7 HTTP/1.1\r\nHost: api.example.com\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			perReq := measure(t, paramsBenchPolicy, tc.req)
			t.Logf("allocations per request: %.4f", perReq)
			if perReq > 0.1 || perReq > baseline+0.01 {
				t.Fatalf("%.4f allocations per request; baseline %.4f, budget 0.1", perReq, baseline)
			}
		})
	}
}
