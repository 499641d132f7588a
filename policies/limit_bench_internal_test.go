//go:build linux

package policies

import (
	"runtime"
	"syscall"
	"testing"
)

// BenchmarkLimitDecisions reports ns/op and, on Linux, cpu-ns/op: the
// CPU time of the benchmark's thread, which a loaded machine does not
// inflate with time spent waiting for a core.
func BenchmarkLimitDecisions(b *testing.B) { benchHotPaths(b, limitHotPaths(b)) }

// benchHotPaths runs one sub-benchmark per hot path.
func benchHotPaths(b *testing.B, paths []struct {
	name string
	f    func()
}) {
	for _, bc := range paths {
		b.Run(bc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			start, ok := threadCPU()
			for b.Loop() {
				bc.f()
			}
			if end, ok2 := threadCPU(); ok && ok2 {
				b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}

// threadCPU is the CPU time the calling OS thread has used (RUSAGE_THREAD).
func threadCPU() (int64, bool) {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
