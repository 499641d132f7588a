//go:build !race

package engine_test

import (
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// TestPolicyCounterAllocations measures, inside a real request's access
// phase, the allocations of PolicyCounter.Inc (a route policy's and a
// global policy's) and of OffLoopCounter.Add: none.
func TestPolicyCounterAllocations(t *testing.T) {
	yml := `listen: 127.0.0.1:1
upstreams:
  - name: up
    targets: [ { addr: 127.0.0.1:9 } ]
global_policies:
  - name: test-metrics
    id: alloc-global
    config: { mode: alloc }
routes:
  - name: alloc
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: test-metrics
        config: { mode: alloc }
`
	g := enginetest.New(t, yml, policies.Build, nil)
	counterAllocs.Store([2]float64{-1, -1})
	get(g, "/x", "b")
	got := counterAllocs.Load().([2]float64)
	if got[0] != 0 || got[1] != 0 {
		t.Fatalf("allocations: Inc %v, OffLoopCounter.Add %v; want 0 and 0", got[0], got[1])
	}
}
