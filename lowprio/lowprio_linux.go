package lowprio

import "syscall"

// ThisThread lowers the calling OS thread; the caller has locked its
// goroutine to it (runtime.LockOSThread) and never unlocks it, so that
// no other goroutine runs there lowered. Linux schedules threads, and
// setpriority with a thread id sets one's nice.
func ThisThread() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), Nice)
}
