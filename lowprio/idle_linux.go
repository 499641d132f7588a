package lowprio

import (
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// schedIdle is SCHED_IDLE (<linux/sched.h>): the thread runs only when no
// normal thread wants the core, and a normal thread that wakes takes the
// core from it at once.
const schedIdle = 5

// Thread is an OS thread lowered by IdleFirst, for the jobs its goroutine
// runs (Job).
type Thread struct {
	tid  int
	idle bool // SCHED_IDLE between jobs' deadlines; false: nice 10 throughout

	mu     sync.Mutex
	job    uint64 // changes at each Job and each end: a late timer finds another number
	raised bool   // at nice 10 for the job in progress
}

// IdleFirst lowers the calling OS thread, which the caller has locked to
// its goroutine for good, below nice 10: to SCHED_IDLE, where the jobs it
// runs take only the time the event loops leave (Job raises a job that
// waited too long to nice 10). A thread at nice 10 still delays a loop:
// when the loop wakes while the thread runs, the kernel lets the thread
// finish its slice, up to a few milliseconds, and a scrape's work is
// several slices. Measured with the scrape cell's windows
// (docs/benchmarks.md): the p99 of the requests in the seconds with a
// scrape was ×1.3 that of the seconds without at the median of 30 runs at
// nice 10, ×1.05 over 22 runs idle first.
//
// Going back from SCHED_IDLE to a normal policy needs an RLIMIT_NICE of at
// least 20 − Nice, or CAP_SYS_NICE; without them an idle thread could be
// starved by a saturated loop for as long as it stays saturated. So the
// thread is idle only where the kernel lets it be raised again (checked
// once, on a thread of its own); elsewhere it is at nice 10, as
// ThisThread leaves it, and Job does nothing.
func IdleFirst() *Thread {
	t := &Thread{tid: unix.Gettid()}
	if canLeaveIdle() && setPolicy(0, schedIdle, Nice) == nil {
		t.idle = true
		return t
	}
	ThisThread()
	return t
}

// Idle says whether the thread runs in idle time (SCHED_IDLE) between its
// jobs' deadlines.
func (t *Thread) Idle() bool { return t.idle }

// Job marks the start of a job on t's thread, from t's goroutine: it runs
// in the loops' idle time until deadline has passed, then at nice 10,
// where the kernel gives it a share of a busy core, until end is called.
// A job therefore never waits for a saturated loop much longer than
// deadline.
func (t *Thread) Job(deadline time.Duration) (end func()) {
	if !t.idle {
		return func() {}
	}
	t.mu.Lock()
	t.job++
	job := t.job
	t.mu.Unlock()
	timer := time.AfterFunc(deadline, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.job == job && !t.raised {
			t.raised = setPolicy(t.tid, unix.SCHED_NORMAL, Nice) == nil
		}
	})
	return func() {
		timer.Stop()
		t.mu.Lock()
		defer t.mu.Unlock()
		t.job++
		if t.raised && setPolicy(0, schedIdle, Nice) == nil {
			t.raised = false
		}
	}
}

func setPolicy(tid int, policy uint32, nice int32) error {
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy, Nice: nice}, 0)
}

// canLeaveIdle tries, once, on a thread of its own, whether a thread may
// go from SCHED_IDLE back to nice 10. The thread ends with the probe.
var canLeaveIdle = sync.OnceValue(func() bool {
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread() // never unlocked: the probed thread ends with the goroutine
		ok <- setPolicy(0, schedIdle, Nice) == nil && setPolicy(0, unix.SCHED_NORMAL, Nice) == nil
	}()
	return <-ok
})
