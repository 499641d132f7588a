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

// Thread is an OS thread lowered by Lower, for the jobs run there
// (Job). Its state is the level the job in progress wants (none between
// jobs) and the level applied to the thread; the two differ only while
// the thread is not lowered yet, or where the kernel refused.
type Thread struct {
	tid int

	mu      sync.Mutex
	lowered bool   // SCHED_IDLE between jobs; false: not yet, or nice 10 throughout (Lower)
	job     uint64 // changes at each Job and each end: a late timer finds another number
	want    int    // the level the job in progress has reached: levelIdle, levelNice or levelUrgent
	level   int    // the level applied
}

// A job's levels: idle, raised to nice 10, raised to the loops' nice.
const (
	levelIdle = iota
	levelNice
	levelUrgent
)

// NewThread returns the calling OS thread, not lowered yet (Lower), for a
// goroutine that locked itself to it for good. Jobs may be started on it
// (Job) from any goroutine, before or after Lower: a job handed to the
// thread is timed from when it was handed, not from when the thread,
// which may be waiting for an idle core, picks it up.
func NewThread() *Thread { return &Thread{tid: unix.Gettid()} }

// Lower puts t below nice 10: to SCHED_IDLE, where the jobs it runs take
// only the time the event loops leave (Job raises a job that waited too
// long), or at the level a job in progress has reached. A thread at nice
// 10 still delays a loop: when the loop wakes while the thread runs, the
// kernel lets the thread finish its slice, up to a few milliseconds, and
// a scrape's work is several slices. Measured with the scrape cell's
// windows (docs/benchmarks.md): the p99 of the requests in the seconds
// with a scrape was ×1.3 that of the seconds without at the median of 30
// runs at nice 10, about ×1 idle first.
//
// Going back from SCHED_IDLE to a normal policy needs an RLIMIT_NICE of at
// least 20 − Nice, or CAP_SYS_NICE; without them an idle thread could be
// starved by a saturated loop for as long as it stays saturated. So the
// thread is idle only where the kernel lets it be raised again (checked
// once, on a thread of its own); elsewhere it is at nice 10 throughout,
// and Job does nothing.
func (t *Thread) Lower() {
	if !canLeaveIdle() || setPolicy(t.tid, schedIdle, Nice) != nil {
		_ = setPolicy(t.tid, unix.SCHED_NORMAL, Nice) // nice 10 throughout
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lowered, t.level = true, levelIdle
	t.apply()
}

// Idle says whether the thread runs in idle time (SCHED_IDLE) between its
// jobs' deadlines.
func (t *Thread) Idle() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lowered
}

// Job marks the start of a job on t's thread, from any goroutine: it runs
// in the loops' idle time until idleFor has passed, then at nice 10,
// where the kernel gives it a share of a busy core (about a tenth beside
// a loop at nice 0), and past urgentAfter at the loops' own nice (the
// process's), where the kernel allows that (RLIMIT_NICE of 20, or
// CAP_SYS_NICE; elsewhere it stays at nice 10), until end is called. A
// job on a saturated gateway therefore waits idleFor, then has a tenth of
// a core, then half. One job at a time.
func (t *Thread) Job(idleFor, urgentAfter time.Duration) (end func()) {
	t.mu.Lock()
	t.job++
	job := t.job
	t.mu.Unlock()
	reach := func(level int) func() {
		return func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.job == job && t.want < level {
				t.want = level
				t.apply()
			}
		}
	}
	toNice := time.AfterFunc(idleFor, reach(levelNice))
	toUrgent := time.AfterFunc(urgentAfter, reach(levelUrgent))
	return func() {
		toNice.Stop()
		toUrgent.Stop()
		t.mu.Lock()
		defer t.mu.Unlock()
		t.job++
		t.want = levelIdle
		t.apply()
	}
}

// apply sets the thread's policy to the level wanted, once lowered; with
// t.mu held. The urgent level is nice 10 where leaving nice 10 is refused.
func (t *Thread) apply() {
	if !t.lowered || t.level == t.want {
		return
	}
	policy, nice := uint32(unix.SCHED_NORMAL), int32(Nice)
	switch t.want {
	case levelIdle:
		policy = schedIdle
	case levelUrgent:
		if loops, ok := canLeaveNice(); ok {
			nice = loops
		}
	}
	if setPolicy(t.tid, policy, nice) == nil {
		t.level = t.want
	}
}

func setPolicy(tid int, policy uint32, nice int32) error {
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy, Nice: nice}, 0)
}

// canLeaveIdle tries, once, on a thread of its own, whether a thread may
// go from SCHED_IDLE back to nice 10.
var canLeaveIdle = sync.OnceValue(func() bool {
	return onThrowawayThread(func() bool {
		return setPolicy(0, schedIdle, Nice) == nil && setPolicy(0, unix.SCHED_NORMAL, Nice) == nil
	})
})

// canLeaveNice tries, once, on a thread of its own, whether a thread at
// nice 10 may go back to the nice it was made with: the process's, which
// the event loops run at. It returns that nice.
var canLeaveNice = sync.OnceValues(func() (int32, bool) {
	type probe struct {
		nice int32
		ok   bool
	}
	p := onThrowawayThread(func() probe {
		a, err := unix.SchedGetAttr(0, 0)
		if err != nil || a.Nice >= Nice {
			return probe{}
		}
		return probe{a.Nice, setPolicy(0, unix.SCHED_NORMAL, Nice) == nil && setPolicy(0, unix.SCHED_NORMAL, a.Nice) == nil}
	})
	return p.nice, p.ok
})

// onThrowawayThread runs probe on an OS thread that ends with it, so that
// what the probe did to the thread's scheduling touches no other goroutine.
func onThrowawayThread[T any](probe func() T) T {
	res := make(chan T)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		res <- probe()
	}()
	return <-res
}
