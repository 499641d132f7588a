package live

import "syscall"

// niceThisThread lowers the calling OS thread's priority (Linux
// schedules threads, and setpriority with a thread id sets one's nice).
// A failure (a sandbox refusing it) leaves the thread as it was.
func niceThisThread(n int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), n)
}
