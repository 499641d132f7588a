//go:build !linux

package shm

// threadCPUNanos is not available here; benchmarks skip the cpu-ns/op metric.
func threadCPUNanos() (int64, bool) { return 0, false }
