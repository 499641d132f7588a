package lb

import (
	"sync"
	"sync/atomic"
	"time"
)

// coarseTick is the resolution of the default clock.
const coarseTick = time.Millisecond

// The default clock is coarse, like nginx's cached ngx_current_msec: a
// goroutine stores the monotonic time every coarseTick, and every pick and
// End reads it with one atomic load. time.Now costs 50-150 ns on the
// virtual machines gateways run on, more than a whole pick; a millisecond is
// finer than any health or budget decision here (latencies come from
// Outcome.Latency, which the engine measures).
var (
	coarseOnce  sync.Once
	coarseStart time.Time
	coarseNanos atomic.Int64
)

func startCoarseClock() {
	coarseOnce.Do(func() {
		coarseStart = time.Now()
		go func() {
			t := time.NewTicker(coarseTick)
			for range t.C {
				coarseNanos.Store(int64(time.Since(coarseStart)))
			}
		}()
	})
}

// coarseNow returns nanoseconds since coarseStart, to within coarseTick.
func coarseNow() int64 { return coarseNanos.Load() }
