package lowprio

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// policyOf reads the calling thread's policy and nice.
func policyOf() (uint32, int32) {
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return 1 << 31, 0
	}
	return a.Policy, a.Nice
}

// waitFor waits up to 10 s for the calling thread to be at policy and
// nice; it returns what was wrong.
func waitFor(policy uint32, nice int32) string {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		p, n := policyOf()
		if p == policy && n == nice {
			return ""
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("policy %d nice %d after 10 s, want policy %d nice %d", p, n, policy, nice)
		}
	}
}

// TestIdleFirstRaisesALateJobOnly: an idle-first thread is SCHED_IDLE
// between jobs and during a job's first part, at nice 10 once the job is
// past its deadline, at the loops' nice past its second one (where the
// kernel allows it), and idle again after it; a job that ends in time is
// never raised, nor is the next one by the first one's timers.
func TestIdleFirstRaisesALateJobOnly(t *testing.T) {
	type result struct{ skip, fail string }
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the lowered thread ends with the goroutine
		res <- func() result {
			th := NewThread()
			th.Lower()
			if !th.Idle() {
				if p, n := policyOf(); p != unix.SCHED_NORMAL || n != Nice {
					return result{fail: fmt.Sprintf("not idle-first, and policy %d nice %d, want nice %d", p, n, Nice)}
				}
				return result{skip: "SCHED_IDLE could not be left here (RLIMIT_NICE, CAP_SYS_NICE): the thread is at nice 10 instead"}
			}
			if p, _ := policyOf(); p != schedIdle {
				return result{fail: fmt.Sprintf("policy %d between jobs, want SCHED_IDLE", p)}
			}
			end := th.Job(time.Hour, time.Hour)
			end()
			// The first job's timers, if they fired now, must not raise this one.
			end = th.Job(20*time.Millisecond, time.Hour)
			if p, _ := policyOf(); p != schedIdle {
				return result{fail: fmt.Sprintf("policy %d before the deadline, want SCHED_IDLE", p)}
			}
			if f := waitFor(unix.SCHED_NORMAL, Nice); f != "" {
				return result{fail: "past its 20 ms deadline: " + f}
			}
			end()
			if p, _ := policyOf(); p != schedIdle {
				return result{fail: fmt.Sprintf("policy %d after the late job, want SCHED_IDLE again", p)}
			}
			// A job past its second deadline runs at the loops' nice, where
			// that is allowed; elsewhere it stays at nice 10.
			loops, ok := canLeaveNice()
			end = th.Job(time.Millisecond, 30*time.Millisecond)
			if !ok {
				loops = Nice
			}
			if f := waitFor(unix.SCHED_NORMAL, loops); f != "" {
				return result{fail: "past its second deadline: " + f}
			}
			end()
			if p, _ := policyOf(); p != schedIdle {
				return result{fail: fmt.Sprintf("policy %d after the late job, want SCHED_IDLE again", p)}
			}
			return result{}
		}()
	}()
	r := <-res
	if r.skip != "" {
		t.Skip(r.skip)
	}
	if r.fail != "" {
		t.Fatal(r.fail)
	}
	// Another thread is untouched.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if p, _ := policyOf(); p == schedIdle {
		t.Fatal("the lowering leaked to another thread")
	}
}

// TestJobFromAnotherGoroutine: a job started by another goroutine, even
// before the thread is lowered, is timed from its start: a thread lowered
// after the job's deadline is lowered to the job's level, not to idle,
// and the job's end, from the other goroutine, makes it idle again.
func TestJobFromAnotherGoroutine(t *testing.T) {
	threads := make(chan *Thread)
	lower, lowered, check := make(chan struct{}), make(chan struct{}), make(chan chan string)
	go func() {
		runtime.LockOSThread() // never unlocked: the lowered thread ends with the goroutine
		th := NewThread()
		threads <- th
		<-lower
		th.Lower()
		close(lowered)
		for c := range check {
			p, n := policyOf()
			c <- fmt.Sprintf("%d/%d", p, n)
		}
	}()
	th := <-threads
	defer close(check)
	state := func() string {
		c := make(chan string)
		check <- c
		return <-c
	}
	end := th.Job(time.Millisecond, time.Hour)
	time.Sleep(20 * time.Millisecond) // past the deadline, before Lower
	close(lower)
	<-lowered
	if !th.Idle() {
		t.Skip("SCHED_IDLE could not be left here (RLIMIT_NICE, CAP_SYS_NICE)")
	}
	if got, want := state(), fmt.Sprintf("%d/%d", unix.SCHED_NORMAL, Nice); got != want {
		t.Fatalf("lowered during a late job: policy/nice %s, want %s", got, want)
	}
	end()
	if got, want := state(), fmt.Sprintf("%d/%d", schedIdle, Nice); got != want {
		t.Fatalf("after the job: policy/nice %s, want %s", got, want)
	}
}
