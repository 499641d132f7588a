//go:build !race

package policies_test

import (
	"testing"

	"github.com/sluice-gw/sluice/redis/redistest"
)

// TestLimitLeaseAllocatesNothing pins redis-lease's allocations on the
// lease hit path: none beyond those of the same request on a route
// without policies.
func TestLimitLeaseAllocatesNothing(t *testing.T) {
	rs := redistest.Start(t)
	routesAllocateNothing(t, leaseRoutes, func(t testing.TB, items string) *gateway {
		return leaseGatewayFor(t, rs.Addr(), items)
	})
}
