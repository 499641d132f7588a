//go:build linux

package policies

import "testing"

// BenchmarkLimitLeaseHit is the cost of a redis-lease decision spent from
// the lease in hand (what most requests do), beside the local fixed
// window; ns/op and, on Linux, cpu-ns/op (see BenchmarkLimitDecisions).
func BenchmarkLimitLeaseHit(b *testing.B) { benchHotPaths(b, leaseHotPaths(b)) }
