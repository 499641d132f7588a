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

// TestIdleFirstRaisesALateJobOnly: an idle-first thread is SCHED_IDLE
// between jobs and during a job's first part, at nice 10 once the job is
// past its deadline, and idle again after it; a job that ends in time is
// never raised, nor is the next one by the first one's timer.
func TestIdleFirstRaisesALateJobOnly(t *testing.T) {
	type result struct{ skip, fail string }
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the lowered thread ends with the goroutine
		res <- func() result {
			th := IdleFirst()
			if !th.Idle() {
				if p, n := policyOf(); p != unix.SCHED_NORMAL || n != Nice {
					return result{fail: fmt.Sprintf("not idle-first, and policy %d nice %d, want nice %d", p, n, Nice)}
				}
				return result{skip: "SCHED_IDLE could not be left here (RLIMIT_NICE, CAP_SYS_NICE): the thread is at nice 10 instead"}
			}
			if p, _ := policyOf(); p != schedIdle {
				return result{fail: fmt.Sprintf("policy %d between jobs, want SCHED_IDLE", p)}
			}
			end := th.Job(time.Hour)
			end()
			end = th.Job(20 * time.Millisecond) // the first timer, if it fired now, must not raise this one
			if p, _ := policyOf(); p != schedIdle {
				return result{fail: fmt.Sprintf("policy %d before the deadline, want SCHED_IDLE", p)}
			}
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if p, n := policyOf(); p == unix.SCHED_NORMAL && n == Nice {
					break
				}
				if time.Now().After(deadline) {
					return result{fail: "a job 10 s past its 20 ms deadline was never raised to nice 10"}
				}
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
