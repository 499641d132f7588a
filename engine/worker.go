package engine

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sluice-gw/sluice/pool"
	"github.com/sluice-gw/sluice/stats"
)

// worker is one event loop's state. Every method runs on that loop.
type worker struct {
	id   int
	srv  *Server
	loop gnet.EventLoop
	now  int64 // unix nanoseconds, refreshed once per event

	wheel *timerWheel
	idle  *pool.Keepalive[*Target]

	pickers []workerPicker // by Upstream.id

	// flushWatch holds client connections waiting for their output to drain
	// (to close after the last byte, or to let a paused stream go on); the
	// tick checks them because gnet has no "writable" callback.
	flushWatch []drainWaiter
	flushSpare []drainWaiter

	// out is where heads are serialized: every use writes it to a
	// connection within the same callback (gnet copies what the socket does
	// not take), so one buffer per worker serves all its connections and an
	// idle connection holds none.
	freeCtx []*Ctx // request contexts of connections that are idle or gone

	subIdle    loopSubPool // idle sub-request connections (subloop.go)
	subDialing int         // sub-request connections being opened

	peers []*peerConn // this worker's connection to each Peer, by Peer.id (peer.go)

	dialing   int             // dials in progress (startDial)
	dialQueue []*upstreamConn // dials waiting for a slot

	depth  int      // nesting of engine callbacks now running (closing.go)
	closes []closer // closes to handle when the outermost callback returns

	out       []byte
	errBody   []byte // the JSON body of an error being answered
	errFields []byte // its extra field lines

	// wantFastTick asks the tick loop for every tick, not every slowTicks:
	// set while connections wait for their output to drain.
	wantFastTick atomic.Bool

	m    *stats.Shard // this worker's counters (metrics.go)
	done completions  // Resumes and sub-request results from other goroutines (suspend.go)

	curSnap  *Snapshot // the snapshot of this worker's newest requests (retire.go)
	curLive  int       // requests running on curSnap
	oldSnaps []oldSnapshot

	published    int64 // the last time this worker published to the cached clock
	reqSeq       uint64
	lastExpire   int64
	yielded      int64 // when the loop last yielded (tickClock)
	tickRunnable gnet.RunnableFunc
}

func newWorker(s *Server, id int, loop gnet.EventLoop) *worker {
	now := time.Now().UnixNano()
	w := &worker{
		id:    id,
		srv:   s,
		loop:  loop,
		now:   now,
		wheel: newTimerWheel(4096, int64(fastTick), now),
		idle:  pool.NewKeepalive[*Target](pool.KeepaliveConfig{}),
		out:   make([]byte, 0, 4096),
		m:     s.metrics.set.Shard(id),
	}
	w.tickRunnable = func(context.Context) error {
		w.enter()
		w.tick()
		w.leave()
		return nil
	}
	return w
}

func (w *worker) tickClock() {
	w.now = time.Now().UnixNano()
	publishClock(w.now, &w.published)
	if w.now-w.yielded >= yieldEvery {
		w.yielded = w.now
		runtime.Gosched()
	}
}

// yieldEvery is how often a busy loop yields to the Go scheduler. A loop
// under load never parks (its epoll_wait always has events), so the
// runtime sees one goroutine running on one scheduling tick for ever:
// after 10 ms sysmon marks it for preemption, and 10 ms later, finding
// it in a system call (read or write), takes its P away and hands it to
// another thread. Every 20 ms the loop then moves to another thread, and
// sysmon, having "woken somebody", goes back to waking every 20 µs —
// about 1,500 wake-ups a second on the loop's core (perf: 0.09 nanosleep
// per proxied request). A Gosched advances the tick, so none of that
// happens; with nothing else runnable it returns at once on the same
// thread, for a few hundred nanoseconds every 5 ms.
const yieldEvery = int64(5 * time.Millisecond)

// execute runs fn on the worker's loop. Safe from any goroutine. If the
// engine is stopping, fn is dropped (its connections are being closed) and
// the error says so.
func (w *worker) execute(fn func()) error {
	return w.loop.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		w.enter()
		w.tickClock()
		fn()
		w.leave()
		return nil
	}))
}

// tick advances timers, checks connections waiting for output to drain,
// expires idle upstream connections and, when draining, closes idle clients.
func (w *worker) tick() {
	w.tickClock()
	w.wheel.advance(w.now)
	if len(w.flushWatch) > 0 {
		w.checkFlushWatch()
	}
	if w.now-w.lastExpire >= int64(time.Second) {
		w.lastExpire = w.now
		w.idle.Expire(w.now, idleTimeoutOf, closeIdle)
	}
}

// watch registers d to be told (onDrained) when its output drops to
// lowWater; the tick checks, since gnet has no "writable" callback.
func (w *worker) watch(d drainWaiter) {
	if d.setWatched(true) {
		return
	}
	w.flushWatch = append(w.flushWatch, d)
	if !w.wantFastTick.Swap(true) {
		select {
		case w.srv.fastWake <- struct{}{}:
		default:
		}
	}
}

func (w *worker) checkFlushWatch() {
	// Swap the list out first: onDrained may watch its connection again.
	list := w.flushWatch
	w.flushWatch, w.flushSpare = w.flushSpare[:0], nil
	for i, d := range list {
		list[i] = nil
		if d.gone() {
			d.setWatched(false)
			continue
		}
		if d.outbound() <= lowWater {
			d.setWatched(false)
			d.onDrained()
			continue
		}
		w.flushWatch = append(w.flushWatch, d)
	}
	w.flushSpare = list[:0]
	if len(w.flushWatch) == 0 {
		w.wantFastTick.Store(false)
	}
}

func idleTimeoutOf(c pool.IdleConn) int64 { return c.(*upstreamConn).up.idleTimeout }
func closeIdle(c pool.IdleConn)           { c.(*upstreamConn).close() }

func (w *worker) getCtx() *Ctx {
	if n := len(w.freeCtx); n > 0 {
		x := w.freeCtx[n-1]
		w.freeCtx[n-1] = nil
		w.freeCtx = w.freeCtx[:n-1]
		return x
	}
	w.srv.ctxMade.Add(1)
	return &Ctx{}
}

// maxFreeCtx bounds the free list: after a burst, contexts beyond it go to
// the garbage collector.
const maxFreeCtx = 1024

func (w *worker) putCtx(x *Ctx) {
	if len(w.freeCtx) < maxFreeCtx {
		w.freeCtx = append(w.freeCtx, x)
	}
}
