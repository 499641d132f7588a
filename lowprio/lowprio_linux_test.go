package lowprio

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The thread is lowered (SCHED_IDLE, or nice 10 where an idle thread
// could not be raised again); the other threads of the process are
// untouched.
func TestLowerLowersOnlyTheCallingThread(t *testing.T) {
	type seen struct {
		policy uint32
		nice   int32
		idle   bool
		err    error
	}
	read := func() seen {
		a, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			return seen{err: err}
		}
		return seen{policy: a.Policy, nice: a.Nice}
	}
	lowered, other := make(chan seen), make(chan seen)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine
		before := read()
		if before.err != nil {
			lowered <- before
			return
		}
		th := NewThread()
		th.Lower()
		s := read()
		s.idle = th.Idle()
		lowered <- s
	}()
	got := <-lowered
	if got.err != nil {
		t.Skipf("sched_getattr: %v", got.err)
	}
	base := read() // the test's own thread: the process's nice
	if base.err == nil && base.nice > Nice {
		t.Skipf("the process runs at nice %d already: raising a thread to %d needs privilege", base.nice, Nice)
	}
	switch {
	case got.idle && got.policy != schedIdle:
		t.Fatalf("policy %d after Lower, want SCHED_IDLE", got.policy)
	case !got.idle && (got.policy != unix.SCHED_NORMAL || got.nice != Nice):
		t.Fatalf("policy %d nice %d after Lower where SCHED_IDLE could not be left, want nice %d", got.policy, got.nice, Nice)
	}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		other <- read()
	}()
	if o := <-other; o.err == nil && (o.nice != base.nice || o.policy != base.policy) {
		t.Fatalf("another thread has policy %d nice %d, the process %d and %d: the lowering leaked", o.policy, o.nice, base.policy, base.nice)
	}
}
