package live

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/lowprio"
)

// The control plane runs below the data plane. A change of one route of
// 10,000 costs about a millisecond of CPU (the edit, the compile, the
// garbage they make and its collection); on a machine whose cores all run
// event loops, that work would be taken from requests, whose p99 then
// moves. So changes are applied, and written back, on OS threads of their
// own below the event loops (package lowprio): in the cores' idle time
// first (SCHED_IDLE), where a loop that wakes takes the core back at once,
// then at nice 10 once a change has waited changeIdleFor, and at the
// loops' own nice past changeUrgentAfter, so that a saturated gateway
// still answers a change in time. Garbage collection assists triggered by
// the change's allocations run on the same lowered thread, as they run on
// the allocating goroutine.
//
// At nice 10 throughout, as changes ran before, the thread still took
// slices of a busy core: a loop that woke while it ran waited for the end
// of the slice, and a core running a nice-10 thread is not idle to the
// kernel, which then queued a waking loop behind the load on the other
// core. Beside wrk's closed loop with 20 PUTs a second (short cells,
// docs/benchmarks.md), the churned cells served 4-8 % fewer requests than
// the quiet ones beside them at nice 10, and about as many in idle time;
// in the churn cell the effect is within what the machine moves
// from run to run. A change's answer takes about half a millisecond
// longer there (it waits for idle time); it is in force when answered.

// changeIdleFor is how long a change runs in the loops' idle time before
// it takes a nice-10 share of a busy core. Beside the churn cell's
// saturated closed loop a change waited 4-11 ms at the mean.
const changeIdleFor = 50 * time.Millisecond

// changeUrgentAfter is when a change still waiting or running takes the
// loops' own priority (where the kernel allows it): at nice 10 beside a
// saturated loop it has a tenth of the core.
const changeUrgentAfter = 250 * time.Millisecond

// lowPriority runs jobs one at a time on a thread locked to it and
// lowered, until stop.
type lowPriority struct {
	mu      sync.Mutex // held by run and stop: jobs is closed once, never sent on after
	stopped bool
	jobs    chan func()
	thread  *lowprio.Thread
}

func newLowPriority() *lowPriority {
	lp := &lowPriority{jobs: make(chan func())}
	threads := make(chan *lowprio.Thread)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		t := lowprio.NewThread()
		threads <- t // at the starter's priority: lowered, the send could wait for an idle core
		t.Lower()
		for job := range lp.jobs {
			job()
		}
	}()
	lp.thread = <-threads
	return lp
}

// run runs fn on the lowered thread and waits for it; false, without
// running it, after stop. A panic of fn is
// carried back and raised again in the caller's goroutine, with fn's
// stack: on the lowered thread it ended the process (no net/http handler
// above it to recover it) and left every later change waiting for a
// thread that was gone.
func (lp *lowPriority) run(fn func()) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.stopped {
		return false
	}
	// Timed from here, not from when the thread takes the job: a lowered
	// thread may wait for an idle core before it does.
	end := lp.thread.Job(changeIdleFor, changeUrgentAfter)
	defer end()
	done := make(chan struct{})
	var failed *jobPanic
	lp.jobs <- func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				failed = &jobPanic{value: v, stack: debug.Stack()}
			}
		}()
		fn()
	}
	<-done
	if failed != nil {
		panic(failed)
	}
	return true
}

// stop ends the thread (after the job it runs, if any).
func (lp *lowPriority) stop() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if !lp.stopped {
		lp.stopped = true
		close(lp.jobs)
	}
}

// jobPanic is a panic of a job, raised again by run.
type jobPanic struct {
	value any
	stack []byte
}

func (p *jobPanic) Error() string {
	return fmt.Sprintf("live: a change panicked: %v\n\n%s", p.value, p.stack)
}
