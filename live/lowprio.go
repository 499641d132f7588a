package live

import "runtime"

// The control plane runs below the data plane. A change of one route of
// 10,000 costs a few milliseconds of CPU (the edit, the compile, the
// garbage they make and its collection); on a machine whose cores all run
// event loops, that work would be taken from requests, whose p99 then
// moves. So changes are applied, and written back, on OS threads of their
// own at a lower scheduling priority (nice): the kernel gives the event
// loops the CPU first, and the control plane the rest. Garbage collection
// assists triggered by the change's allocations run on the same niced
// thread, as they run on the allocating goroutine.

// controlNice is the nice value of the control plane's threads.
const controlNice = 10

// lowPriority runs jobs one at a time on a thread locked to it and niced.
type lowPriority struct {
	jobs chan func()
}

func newLowPriority() *lowPriority {
	lp := &lowPriority{jobs: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		niceThisThread(controlNice)
		for job := range lp.jobs {
			job()
		}
	}()
	return lp
}

// run runs fn on the niced thread and waits for it.
func (lp *lowPriority) run(fn func()) {
	done := make(chan struct{})
	lp.jobs <- func() {
		defer close(done)
		fn()
	}
	<-done
}
