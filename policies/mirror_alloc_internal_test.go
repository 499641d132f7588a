//go:build !race

package policies

import (
	"testing"

	"github.com/sluice-gw/sluice/engine"
)

// TestMirrorSamplingAllocatesNothing: deciding whether a request is copied
// allocates nothing; only a copy that is sent allocates (its target,
// fields and body are the copy's own, as it outlives the request).
func TestMirrorSamplingAllocatesNothing(t *testing.T) {
	pol, err := Build(specOf(t, `{ name: mirror, config: { upstream: s, sample: 10 } }`), &engine.Env{})
	if err != nil {
		t.Fatal(err)
	}
	p := pol.(*mirror)
	p.sampled(0)
	if n := testing.AllocsPerRun(1000, func() { _ = p.sampled(0) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
