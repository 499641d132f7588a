package policies_test

import (
	"testing"
)

// The params check end to end on loopback: a GET whose query parameters
// are all declared and valid (nothing to rebuild), one with an undeclared
// parameter removed (the target is rewritten), beside the same request
// without policies.

const paramsBenchPolicy = `      - name: params
        config:
          params:
            - { name: id, type: number, integer: true, min: 1, max: 1000000, required: true }
            - { name: sort, enum: [asc, desc], default: asc }
            - { name: q, max_length: 64, pattern: "^[a-z0-9 ]*$" }
`

const (
	paramsReqClean = "GET /api/v1/items?id=42&sort=desc&q=red+shoes HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\n\r\n"
	paramsReqStrip = "GET /api/v1/items?id=42&sort=desc&q=red+shoes&debug=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\n\r\n"
)

func BenchmarkParams(b *testing.B) {
	for _, bc := range []struct{ name, policies, req string }{
		{"baseline=no-policies", "", paramsReqClean},
		{"params=valid-query", paramsBenchPolicy, paramsReqClean},
		{"params=undeclared-removed", paramsBenchPolicy, paramsReqStrip},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := policyGateway(b, bc.policies)
			sc := newSteadyClient(b, g.addr, bc.req)
			sc.run(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			sc.run(b, b.N)
		})
	}
}
