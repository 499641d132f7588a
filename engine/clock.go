package engine

import (
	"sync/atomic"
	"time"
)

// The gateway's cached clock, like nginx's ngx_current_msec: workers read
// the time once per event (they need it for their timers anyway) and
// publish it here when it moved by a millisecond or more; lb's health and
// budget decisions and the shared dicts' TTLs read it with one atomic load.
// Without it, lb and shm would each run a 1 ms ticker goroutine, which costs
// about 2% of a core even when the gateway is idle. When no request comes,
// the workers' 100 ms tick keeps it within that of the real time.
var (
	clockEpoch = time.Now()
	clockUnix  atomic.Int64 // unix nanoseconds
)

func init() { clockUnix.Store(clockEpoch.UnixNano()) }

const clockResolution = int64(time.Millisecond)

// publishClock makes now (unix nanoseconds) the cached time if it moved by
// at least clockResolution; last is the caller's own record of what it
// published, so the shared cache line is written at most once a millisecond
// per worker.
func publishClock(now int64, last *int64) {
	if now-*last < clockResolution {
		return
	}
	*last = now
	if now > clockUnix.Load() { // never backwards, whatever the workers' order
		clockUnix.Store(now)
	}
}

// cachedTime is the cached clock as a time.Time (lb.Config.Clock).
func cachedTime() time.Time { return time.Unix(0, clockUnix.Load()) }

// cachedMono is the cached clock as nanoseconds since the process started
// (shm's Clock).
func cachedMono() int64 { return clockUnix.Load() - clockEpoch.UnixNano() }
