//go:build linux

package shm

import "syscall"

// threadCPUNanos returns the CPU time the calling OS thread has used. The
// caller must hold runtime.LockOSThread. On a loaded machine it measures
// the work done, not the time spent waiting for a core.
func threadCPUNanos() (int64, bool) {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
