package engine

import "testing"

type recordingOwner struct {
	node  timerNode
	fired []int64
	rearm int64
	w     *timerWheel
}

func (r *recordingOwner) onTimer(now int64) {
	r.fired = append(r.fired, now)
	if r.rearm > 0 {
		r.w.arm(&r.node, now+r.rearm)
		r.rearm = 0
	}
}

func newOwner(w *timerWheel) *recordingOwner {
	r := &recordingOwner{w: w}
	r.node.owner = r
	return r
}

func TestTimerWheelFiresAtOrAfterDeadline(t *testing.T) {
	const ms = int64(1e6)
	w := newTimerWheel(8, 10*ms, 0)
	a, b := newOwner(w), newOwner(w)
	w.arm(&a.node, 25*ms)
	w.arm(&b.node, 200*ms) // beyond one revolution (80ms)
	w.advance(20 * ms)
	if len(a.fired) != 0 {
		t.Fatalf("fired early: %v", a.fired)
	}
	w.advance(30 * ms)
	if len(a.fired) != 1 || len(b.fired) != 0 {
		t.Fatalf("a=%v b=%v", a.fired, b.fired)
	}
	w.advance(190 * ms)
	if len(b.fired) != 0 {
		t.Fatalf("b fired early at a later revolution: %v", b.fired)
	}
	w.advance(210 * ms)
	if len(b.fired) != 1 {
		t.Fatalf("b did not fire: %v", b.fired)
	}
	if w.armed != 0 {
		t.Fatalf("armed=%d after all fired", w.armed)
	}
}

func TestTimerWheelRearmAndDisarm(t *testing.T) {
	const ms = int64(1e6)
	w := newTimerWheel(16, ms, 0)
	a := newOwner(w)
	w.arm(&a.node, 5*ms)
	w.arm(&a.node, 50*ms) // moving it must drop the first deadline
	w.advance(10 * ms)
	if len(a.fired) != 0 {
		t.Fatal("old deadline fired after re-arm")
	}
	w.disarm(&a.node)
	w.advance(100 * ms)
	if len(a.fired) != 0 {
		t.Fatal("disarmed timer fired")
	}
	// A callback that re-arms itself fires again later, not in the same pass.
	a.rearm = 3 * ms
	w.arm(&a.node, 101*ms)
	w.advance(101 * ms)
	if len(a.fired) != 1 {
		t.Fatalf("fired %d times", len(a.fired))
	}
	w.advance(104 * ms)
	if len(a.fired) != 2 {
		t.Fatalf("re-armed timer did not fire: %v", a.fired)
	}
}

func TestTimerWheelLongStallFiresEverything(t *testing.T) {
	const ms = int64(1e6)
	w := newTimerWheel(4, ms, 0)
	owners := make([]*recordingOwner, 10)
	for i := range owners {
		owners[i] = newOwner(w)
		w.arm(&owners[i].node, int64(i+1)*ms)
	}
	w.advance(1000 * ms)
	for i, o := range owners {
		if len(o.fired) != 1 {
			t.Fatalf("owner %d fired %d times", i, len(o.fired))
		}
	}
}
