package engine

import (
	"testing"
	"time"
)

// A busy loop yields to the Go scheduler once per yieldEvery, from the
// clock it reads on every callback: more often than sysmon's 10 ms
// preemption slice, and not on every callback (a Gosched is a trip
// through the scheduler).
func TestBusyLoopYieldsOncePerInterval(t *testing.T) {
	if yieldEvery >= int64(10*time.Millisecond) {
		t.Fatalf("yieldEvery %v: must stay under sysmon's 10ms slice", time.Duration(yieldEvery))
	}
	w := &worker{}
	w.tickClock()
	first := w.yielded
	if first == 0 || first != w.now {
		t.Fatalf("the first callback did not yield: yielded %d, now %d", first, w.now)
	}
	for i := 0; i < 1000; i++ {
		w.tickClock()
		if w.now-first < yieldEvery && w.yielded != first {
			t.Fatalf("yielded again %v after the last time", time.Duration(w.yielded-first))
		}
	}
	w.yielded -= yieldEvery // as if the interval had passed
	w.tickClock()
	if w.yielded != w.now {
		t.Fatal("no yield once the interval passed")
	}
}
