//go:build !race

package redis

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/redis/redistest"
)

// TestFailFastAllocs: while Redis is down, calls fail without allocating,
// so a gateway under load with Redis gone does not add GC work per request.
func TestFailFastAllocs(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	c, _ := newClient(t, section(t, srv.Addr(), nil))
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.IncrExpire(ctx, "k", 1, time.Minute); err == nil {
			t.Fatal("no error while down")
		}
		if _, _, err := c.Get(ctx, "k"); err == nil {
			t.Fatal("no error while down")
		}
	})
	if allocs != 0 {
		t.Errorf("IncrExpire+Get while down: %v allocs, want 0", allocs)
	}
}
