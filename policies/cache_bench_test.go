package policies_test

import (
	"strings"
	"testing"
)

// The hit path of the cache, end to end on loopback: a keep-alive client
// asking again and again for a 1 KiB JSON object served from L1, beside
// the same request proxied by a route without policies (the baseline) and
// by a route whose cache misses every time (no-store from upstream).

var jsonKiB = `{"data":"` + strings.Repeat("x", 1024-11) + `"}`

const jsonKiBHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n"

// cacheBenchGateway runs a one-worker gateway whose upstream answers the
// 1 KiB object (with extra head fields) and whose route has policyItems.
func cacheBenchGateway(t testing.TB, extraHead, policyItems string) *gateway {
	up := fixedUpstream(t, []byte(jsonKiBHead+extraHead+"\r\n"+jsonKiB))
	yml := "shared_dicts: { cache: 16MiB }\n" + routeYAML(policyItems)
	if policyItems == "" {
		yml = yml[:len(yml)-len("    policies:\n")]
	}
	return startGateway(t, up, yml)
}

// warmedClient stores the entry with a first request on its own
// connection, then returns a steady client whose responses are hits.
func warmedClient(t testing.TB, g *gateway, req string) *steadyClient {
	newSteadyClient(t, g.addr, req)
	return newSteadyClient(t, g.addr, req)
}

func BenchmarkCacheHit(b *testing.B) {
	for _, bc := range []struct{ name, head, policies string }{
		{"baseline=proxied-no-policies", "", ""},
		{"cache=hit-L1", "", "      - { name: cache }\n"},
		{"cache=miss-no-store", "Cache-Control: no-store\r\n", "      - { name: cache }\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := cacheBenchGateway(b, bc.head, bc.policies)
			sc := warmedClient(b, g, plainReq)
			sc.run(b, 1000)
			b.ReportAllocs()
			b.SetBytes(1024)
			b.ResetTimer()
			sc.run(b, b.N)
		})
	}
}
