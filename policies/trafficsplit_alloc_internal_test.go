//go:build !race

package policies

import "testing"

// TestTrafficSplitChoiceAllocatesNothing pins the choice's budget: a
// round-robin turn and a hashed pick allocate nothing (the conditions read
// views of the request, and the hash key is built in the Ctx's scratch).
func TestTrafficSplitChoiceAllocatesNothing(t *testing.T) {
	r := testSplitRule(10, 90)
	key := []byte("user-12345")
	r.turn(0) // the worker's slot is made on first use
	if n := testing.AllocsPerRun(1000, func() { _ = r.turn(0) }); n != 0 {
		t.Errorf("turn: %v allocations", n)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = r.byHash(splitHash(key)) }); n != 0 {
		t.Errorf("byHash: %v allocations", n)
	}
}
