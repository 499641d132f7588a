package live

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/lowprio"
)

// schedIdle is SCHED_IDLE (<linux/sched.h>).
const schedIdle = 5

// levelOf reads the calling thread's policy and nice; "idle" for
// SCHED_IDLE, whose nice the kernel leaves as it was (it weighs nothing).
func levelOf() string {
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return err.Error()
	}
	if a.Policy == schedIdle {
		return "idle"
	}
	return fmt.Sprintf("policy %d nice %d", a.Policy, a.Nice)
}

// A change runs on the control thread in the cores' idle time
// (SCHED_IDLE) and, once it has waited changeIdleFor, at nice 10, timed
// from when Apply was called; the thread is idle again for the next
// change. Where the kernel would not let an idle thread be raised again,
// it runs at nice 10 throughout.
func TestAChangeRunsInIdleTimeFirst(t *testing.T) {
	cfg, err := config.Parse([]byte("upstreams: [{name: up, targets: [{addr: 127.0.0.1:1}]}]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{}, cfg, &engine.Snapshot{Version: 1})
	defer s.Close()
	idle, nice10 := "idle", fmt.Sprintf("policy %d nice 10", unix.SCHED_NORMAL)
	var first, late, next string
	observe := func(wait bool) func(*config.Config) (*config.Config, error) {
		return func(c *config.Config) (*config.Config, error) {
			if !wait {
				next = levelOf()
				return c, nil
			}
			first = levelOf()
			// Past changeIdleFor the timer raises the thread; on a loaded
			// machine it may take a while to fire.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if late = levelOf(); late == nice10 {
					break
				}
			}
			return c, nil
		}
	}
	if _, err := s.Apply(Change{What: "waits", Edit: observe(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Change{What: "at once", Edit: observe(false)}); err != nil {
		t.Fatal(err)
	}
	if !s.control.thread.Idle() {
		if first != nice10 || late != nice10 || next != nice10 {
			t.Fatalf("not idle first: %s, then %s, next change %s; want nice 10 throughout", first, late, next)
		}
		t.Log("SCHED_IDLE could not be left here (RLIMIT_NICE, CAP_SYS_NICE): changes ran at nice 10")
		return
	}
	if first != idle || late != nice10 || next != idle {
		t.Fatalf("a change ran at %s, then %s past changeIdleFor; the next change at %s; want %s, %s, %s", first, late, next, idle, nice10, idle)
	}
}

// The writer's job is started by the change that makes a write due, so
// that its deadlines count from the change, not from the writer's wake-up
// in idle time, and ends with the write; a flush makes it due now.
func TestAWriteIsDueFromTheChange(t *testing.T) {
	p := newPersister(filepath.Join(t.TempDir(), "sluice.yaml"), t.Logf)
	defer p.close()
	due := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.due != nil
	}
	p.want(manyRoutes(t, 5), 1)
	if !due() {
		t.Fatal("a write is wanted and no job is due")
	}
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); due(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the write is done and its job is still due")
		}
	}
	if p.thread.Idle() != idleFirstHere() {
		t.Fatalf("the writer's thread idle first: %v, want %v", p.thread.Idle(), idleFirstHere())
	}
}

// idleFirstHere says whether a lowered thread runs in idle time first
// here (lowprio.Thread.Idle), on a thread that ends with the check.
func idleFirstHere() bool {
	res := make(chan bool)
	go func() {
		runtime.LockOSThread() // never unlocked: the lowered thread ends with the goroutine
		th := lowprio.NewThread()
		th.Lower()
		res <- th.Idle()
	}()
	return <-res
}
