package live

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/sluice-gw/sluice/lowprio"
)

// The control plane runs below the data plane. A change of one route of
// 10,000 costs a few milliseconds of CPU (the edit, the compile, the
// garbage they make and its collection); on a machine whose cores all run
// event loops, that work would be taken from requests, whose p99 then
// moves. So changes are applied, and written back, on OS threads of their
// own at a lower scheduling priority (package lowprio): the kernel gives
// the event loops the CPU first, and the control plane the rest. Garbage collection
// assists triggered by the change's allocations run on the same niced
// thread, as they run on the allocating goroutine.

// lowPriority runs jobs one at a time on a thread locked to it and niced,
// until stop.
type lowPriority struct {
	mu      sync.Mutex // held by run and stop: jobs is closed once, never sent on after
	stopped bool
	jobs    chan func()
}

func newLowPriority() *lowPriority {
	lp := &lowPriority{jobs: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		lowprio.ThisThread()
		for job := range lp.jobs {
			job()
		}
	}()
	return lp
}

// run runs fn on the niced thread and waits for it; false, without
// running it, after stop. A panic of fn is
// carried back and raised again in the caller's goroutine, with fn's
// stack: on the niced thread it ended the process (no net/http handler
// above it to recover it) and left every later change waiting for a
// thread that was gone.
func (lp *lowPriority) run(fn func()) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.stopped {
		return false
	}
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
