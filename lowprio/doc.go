// Package lowprio puts the calling OS thread below the event loops.
//
// The control plane (a configuration change, its write-back, a scrape)
// costs milliseconds of CPU at a time, on the cores that run the event
// loops. On a thread of its own at nice 10 it would get the CPU after them:
// the kernel gives a contended core to nice-0 threads about ten times as
// often. But a loop that wakes while such a thread runs still waits for
// the end of the thread's slice, and the kernel does not count a core
// running it as idle when it places a waking loop. Threads lowered by
// Thread.Lower run at SCHED_IDLE, which a waking loop preempts at once, and
// are raised to nice 10 only for a job past its deadline, and to the
// loops' own nice past a second one. Where the kernel would not let an
// idle thread be raised again, Lower leaves the thread at nice 10; a
// kernel or sandbox that refuses that too leaves it as it was.
package lowprio

// Nice is the lowered threads' nice value: weight 110 against the loops'
// 1,024, about a tenth of a contended core.
const Nice = 10
