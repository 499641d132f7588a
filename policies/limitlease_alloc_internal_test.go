//go:build !race

package policies

import "testing"

// A request spent from the lease in hand allocates nothing.
func TestLimitLeaseHitAllocatesNothing(t *testing.T) {
	for _, hp := range leaseHotPaths(t) {
		if n := testing.AllocsPerRun(1000, hp.f); n != 0 {
			t.Errorf("%s: %v allocations", hp.name, n)
		}
	}
}
