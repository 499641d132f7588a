//go:build !race

package policies

import "testing"

func TestLimitDecisionsAllocateNothing(t *testing.T) {
	for _, hp := range limitHotPaths(t) {
		if n := testing.AllocsPerRun(1000, hp.f); n != 0 {
			t.Errorf("%s: %v allocations", hp.name, n)
		}
	}
}
