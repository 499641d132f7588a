//go:build !race

package policies

import (
	"testing"

	"github.com/sluice-gw/sluice/engine"
)

// TestMirrorSamplingAllocatesNothing: deciding whether a request is copied
// (the sample and the in-flight cap) allocates nothing; only a copy that is sent allocates (its target,
// fields and body are the copy's own, as it outlives the request).
func TestMirrorSamplingAllocatesNothing(t *testing.T) {
	pol, err := Build(specOf(t, `{ name: mirror, config: { upstream: s, sample: 10 } }`), &engine.Env{})
	if err != nil {
		t.Fatal(err)
	}
	p := pol.(*mirror)
	p.sampled(0)
	if n := testing.AllocsPerRun(1000, func() { _ = p.sampled(0) }); n != 0 {
		t.Fatalf("sampled: %v allocations", n)
	}
	var w mirrorWorker
	p.admit(&w, 0) // the worker's ring is made on first use
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() { now += int64(p.timeout); _ = p.admit(&w, now) }); n != 0 {
		t.Fatalf("admit: %v allocations", n)
	}
}
