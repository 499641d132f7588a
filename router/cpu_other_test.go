//go:build !linux

package router

// processCPUNanos is not available here; benchmarks skip cpu-ns/op.
func processCPUNanos() (int64, bool) { return 0, false }
