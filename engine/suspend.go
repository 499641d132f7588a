package engine

import (
	"context"
	"sync"
	"time"
)

// Suspension: a handler that needs I/O (Redis, an auth server, a JWKS
// fetch) must not block the loop. It suspends the request, hands the work
// to a goroutine with a Resumer (or uses Offload, which does both), and
// returns Suspend. The work resumes the request on its worker with a
// closure that continues it there. Every suspension has a deadline on the
// client's timer (client.policy_timeout): past it the client gets a 504 and
// the work's context is cancelled; so it is when the client goes away.

// Resumer brings a suspended request back to its worker. It is a value:
// copy it into the goroutine doing the work. Safe for use from any
// goroutine; only the first Resume of a suspension has an effect.
type Resumer struct {
	cc  *clientConn
	x   *Ctx
	gen uint64
	seq uint64
}

// Suspend marks the request as waiting for off-loop work. The handler must
// return Suspend right after, and the work must call Resume exactly once.
func (x *Ctx) Suspend() Resumer {
	x.suspended = true
	x.suspendSeq++
	return Resumer{cc: x.cc, x: x, gen: x.gen, seq: x.suspendSeq}
}

// Resume continues the suspended request on its worker: fn runs there
// (nil means Continue) and its status is that of the handler that
// suspended — Continue goes on with the next handler, Done, Error and
// Suspend as anywhere. If the client went away, the deadline passed or the
// request ended meanwhile, fn does not run.
func (r Resumer) Resume(fn func(*Ctx) Status) {
	r.cc.w.post(completion{r: r, fn: fn})
}

// ResumeStatus is Resume with a fixed status.
func (r Resumer) ResumeStatus(s Status) {
	r.cc.w.post(completion{r: r, st: s, fixed: true})
}

// completion is a Resume waiting to run on its worker.
type completion struct {
	r     Resumer
	fn    func(*Ctx) Status
	st    Status
	fixed bool
	run   func() // a plain function posted by the engine (sub-requests)
}

func (c *completion) deliver() {
	if c.run != nil {
		c.run()
		return
	}
	r := c.r
	cc, x := r.cc, r.x
	if !r.waiting() {
		return
	}
	x.endSuspension()
	if cc.timerKind == ctSuspend {
		cc.disarmTimer()
	}
	s := c.st
	if !c.fixed {
		s = Continue
		if c.fn != nil {
			x.to(stageRequest)
			gen := x.gen
			s = x.call(c.fn)
			if cc.x != x || x.gen != gen {
				return // fn answered and the request ended
			}
			cc.runPhases(s)
			return
		}
	}
	cc.resumeFromSuspension(s)
}

// waiting says whether r's request still waits for it. The context may
// have gone back to the worker and on to another request: it must still be
// this connection's, at this generation and this suspension.
func (r Resumer) waiting() bool {
	cc, x := r.cc, r.x
	return !cc.closed && cc.x == x && x.gen == r.gen && x.suspendSeq == r.seq && x.suspended
}

// wake ends r's suspension on its worker, ready for the handler's
// continuation, and returns its request; false when the request no longer
// waits for it.
func (r Resumer) wake() (*Ctx, bool) {
	if !r.waiting() {
		return nil, false
	}
	x := r.x
	x.endSuspension()
	if x.cc.timerKind == ctSuspend {
		x.cc.disarmTimer()
	}
	x.to(stageRequest)
	return x, true
}

// endSuspension clears the suspension: a late Resume finds it stale and
// the work's context is cancelled.
func (x *Ctx) endSuspension() {
	x.suspended = false
	x.readingBody = false
	x.suspendSeq++
	if x.cancel != nil {
		x.cancel()
		x.cancel = nil
	}
}

// Offload runs work on the worker's bounded pool of goroutines with a
// context that ends at the suspension's deadline, when the client goes
// away or when the request ends; the closure work returns continues the
// request on the worker (nil: Continue). The handler returns Offload's
// status: Suspend, or Done when the pool is full (the client got a 503).
// A panic in work fails the request with a 500, as a handler's does.
func (x *Ctx) Offload(work func(ctx context.Context) func(*Ctx) Status) Status {
	r := x.Suspend()
	deadline := time.Unix(0, x.cc.w.now+x.snap.policyTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	x.cancel = cancel
	srv, phase := x.cc.w.srv, x.phase
	ok := x.Go(func() {
		next := runOffloaded(ctx, work, srv, phase)
		r.Resume(next)
	})
	if !ok {
		x.endSuspension()
		x.RespondError(503, "gateway busy: no goroutine for policy work")
		return Done
	}
	return Suspend
}

// Delay suspends the request for d on the worker's timer — no goroutine,
// no sleep — and then goes on with the next handler (nginx's limit_req
// delay). The handler returns Delay's status. A delay longer than
// client.policy_timeout is cut to it; the client going away ends it.
func (x *Ctx) Delay(d time.Duration) Status {
	if d <= 0 {
		return Continue
	}
	x.Suspend()
	if max := time.Duration(x.snap.policyTimeout); d > max {
		d = max
	}
	x.cc.armTimer(ctDelay, int64(d))
	return Suspend
}

// Go runs fn on the worker's bounded pool of goroutines for off-loop work.
// It reports false, without running fn, when the pool is saturated; the
// handler should then fail the request (503) rather than queue unboundedly.
// A panic in fn is logged with its stack and goes no further.
func (x *Ctx) Go(fn func()) bool { return x.cc.w.srv.offload.submit(fn) }

// completions batches work sent to a worker from other goroutines: the
// first post of a batch wakes the loop (gnet's Execute allocates), the
// others only append.
type completions struct {
	mu      sync.Mutex
	queue   []completion
	spare   []completion
	pending bool
}

// post queues c for the worker's loop. Safe from any goroutine.
func (w *worker) post(c completion) {
	q := &w.done
	q.mu.Lock()
	q.queue = append(q.queue, c)
	wake := !q.pending
	q.pending = true
	q.mu.Unlock()
	if wake {
		w.execute(w.drainCompletions)
	}
}

// drainCompletions delivers every queued completion, on the loop.
func (w *worker) drainCompletions() {
	q := &w.done
	for {
		q.mu.Lock()
		batch := q.queue
		if len(batch) == 0 {
			q.pending = false
			q.mu.Unlock()
			return
		}
		q.queue, q.spare = q.spare[:0], nil
		q.mu.Unlock()
		for i := range batch {
			batch[i].deliver()
			batch[i] = completion{}
		}
		q.mu.Lock()
		if q.spare == nil {
			q.spare = batch[:0]
		}
		q.mu.Unlock()
	}
}
