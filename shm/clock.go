package shm

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock returns monotonic time in nanoseconds. It must never go backwards and
// must return values >= 0. It is called concurrently from every goroutine
// that uses the dict, so it must be safe for concurrent use, and it is called
// on every Get, Incr and TTL of an entry with a TTL (by writers with a shard
// lock held), so it must be fast and must not block.
//
// The dict reads the clock only when it needs the time: when it stores or
// reads an entry that has a TTL. Entries without a TTL never cost a clock read.
type Clock func() int64

// processStart anchors the default clock so its values start near zero.
var processStart = time.Now()

// MonotonicClock is the default Clock: the runtime's monotonic clock
// (time.Since on a fixed start), precise to the nanosecond. On Linux with
// the vDSO it costs a few tens of nanoseconds; CoarseClock is cheaper.
func MonotonicClock() int64 { return int64(time.Since(processStart)) }

// CoarseClock is a Clock that a background goroutine advances every
// resolution, so reading it is one atomic load. TTLs measured with it are
// late by up to one resolution, never early by more than one resolution.
//
// A CoarseClock is safe for concurrent use. It must not be copied. Stop it
// when no dict uses it anymore.
type CoarseClock struct {
	_        noCopy
	now      atomic.Int64
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// NewCoarseClock starts a CoarseClock that advances every resolution
// (1ms when resolution <= 0).
func NewCoarseClock(resolution time.Duration) *CoarseClock {
	if resolution <= 0 {
		resolution = time.Millisecond
	}
	c := &CoarseClock{stop: make(chan struct{}), done: make(chan struct{})}
	c.now.Store(MonotonicClock())
	go c.run(resolution)
	return c
}

func (c *CoarseClock) run(resolution time.Duration) {
	defer close(c.done)
	t := time.NewTicker(resolution)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.now.Store(MonotonicClock())
		}
	}
}

// Now returns the last stored time. It has the Clock signature: pass
// c.Now to WithClock.
func (c *CoarseClock) Now() int64 { return c.now.Load() }

// Stop stops the background goroutine and waits for it to exit. Now keeps
// returning the last value. Stop may be called more than once.
func (c *CoarseClock) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}

// noCopy makes go vet's copylocks check flag copies of the types embedding it.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
