package lowprio

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The thread is niced; the other threads of the process are untouched.
func TestThisThreadLowersOnlyTheCallingThread(t *testing.T) {
	type seen struct {
		nice int32
		err  error
	}
	read := func() seen {
		a, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			return seen{err: err}
		}
		return seen{nice: a.Nice}
	}
	lowered, other := make(chan seen), make(chan seen)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine
		before := read()
		if before.err != nil {
			lowered <- before
			return
		}
		ThisThread()
		lowered <- read()
	}()
	got := <-lowered
	if got.err != nil {
		t.Skipf("sched_getattr: %v", got.err)
	}
	base := read() // the test's own thread: the process's nice
	if base.err == nil && base.nice > Nice {
		t.Skipf("the process runs at nice %d already: raising a thread to %d needs privilege", base.nice, Nice)
	}
	if got.nice != Nice {
		t.Fatalf("nice %d after ThisThread, want %d", got.nice, Nice)
	}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		other <- read()
	}()
	if o := <-other; o.err == nil && o.nice != base.nice {
		t.Fatalf("another thread has nice %d, the process %d: the lowering leaked", o.nice, base.nice)
	}
}
