package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/sluice-gw/sluice/lb"
)

// Sub-requests: a policy sends HTTP requests of its own — to a named
// upstream (its balancer, health, retry policy and timeouts) or to an
// address — several in parallel, and gets status, head and body back on
// the worker. It is ngx.location.capture_multi for Sluice: aggregation,
// external auth and cache fills are built on it.
//
// The worker picks each target and records each outcome in the target's
// health, as for proxied requests, and runs the exchanges itself, on
// connections enrolled on its own loop (subloop.go): the worker never
// blocks and no goroutine takes part but a dial's. They do not share the
// proxy's keep-alive pool: each worker keeps idle sub-request connections
// per target, sized by the upstream's pool settings (the proxy's pool is
// tied to client connections, and a sub-request's body is read whole, not
// relayed). Mirrors run on the offload pool with the engine's own client
// (subclient.go): a mirror must cost the worker nothing it can avoid.

// SubRequest is one request a policy sends.
type SubRequest struct {
	// Upstream names an upstream of the request's config; Addr is used
	// when it is empty ("host:port").
	Upstream string
	Addr     string
	// Method defaults to GET.
	Method string
	// Target is the path and query ("/users/1?fields=name"); default "/".
	Target string
	// Host is the Host field; default: the target's address.
	Host string
	// Header holds extra fields.
	Header http.Header
	// Body is sent with a Content-Length.
	Body []byte
	// Timeout bounds each try (a retry on another target gets a fresh
	// one); default the upstream's read timeout (5s for an address). The
	// request's suspension deadline (client.policy_timeout) bounds all
	// tries together.
	Timeout time.Duration
	// MaxBody caps the response body kept; a longer one fails the
	// sub-request with ErrSubResponseTooLarge. Default 1 MiB.
	MaxBody int64
	// NoHeader says the policy does not read SubResponse.Header, which is
	// then left nil: the map costs a map, two strings and a slice per
	// field, some 17 allocations for a typical five-field answer, most of
	// what an aggregated call allocated.
	NoHeader bool
}

// SubResponse is the result of one SubRequest.
type SubResponse struct {
	// Status is the response status, 0 when Err is set.
	Status int
	// Header holds the response's fields, nil with SubRequest.NoHeader.
	Header http.Header
	Body   []byte
	// Err says why there is no response: ErrNoTarget, a connection
	// failure, ErrSubResponseTooLarge, context.DeadlineExceeded...
	Err error
	// Addr is the target that answered last; Tries how many were tried.
	Addr  string
	Tries int
}

var (
	// ErrNoTarget: the sub-request's upstream has no usable target (or is
	// not in the config).
	ErrNoTarget = errors.New("engine: no usable target for the sub-request")
	// ErrSubResponseTooLarge: the response body passed SubRequest.MaxBody.
	ErrSubResponseTooLarge = errors.New("engine: sub-request response body over its limit")
)

// Subrequests sends reqs in parallel and suspends the request; once every
// one has its response (or failed), done runs on the worker with the
// results in the order of reqs, and its status continues the request.
// The handler returns Subrequests' status, Suspend.
func (x *Ctx) Subrequests(reqs []SubRequest, done func(x *Ctx, resps []SubResponse) Status) Status {
	r := x.Suspend()
	b := &subBatch{r: r, deadline: x.cc.w.now + x.snap.policyTimeout, done: done, reqs: reqs, pending: len(reqs)}
	if len(reqs) <= len(b.inline) {
		b.resps = b.inline[:len(reqs):len(reqs)]
	} else {
		b.resps = make([]SubResponse, len(reqs))
	}
	b.inCall = true // a result known at once must wait for the handler to return
	if len(reqs) == 0 {
		b.finish()
	}
	for i := range reqs {
		b.start(x, i)
	}
	b.inCall = false
	return Suspend
}

// subBatch is one call of Subrequests; it lives on the worker (results are
// written there), only the HTTP exchanges run elsewhere.
type subBatch struct {
	r        Resumer
	deadline int64 // the suspension's (unix nanoseconds): no try goes past it
	inCall   bool  // Subrequests is still running: the handler has not returned
	done     func(*Ctx, []SubResponse) Status
	reqs     []SubRequest
	resps    []SubResponse
	tried    []lb.Tried
	// The results and tried targets of a batch of up to four live in it:
	// one allocation instead of three for the usual fan-out.
	inline      [4]SubResponse
	inlineTried [4]lb.Tried
	pending     int
}

// start sends sub-request i to its next target, on the worker's loop
// (subloop.go).
func (b *subBatch) start(x *Ctx, i int) {
	if j, run := b.prepare(x, i); run {
		b.startLoopSub(x.cc.w, j)
	}
}

// prepare picks sub-request i's next target on the worker; run is false
// when there is none (the sub-request is complete, failed).
func (b *subBatch) prepare(x *Ctx, i int) (j subJob, run bool) {
	sr := &b.reqs[i]
	res := &b.resps[i]
	addr := sr.Addr
	var u *Upstream
	var t *Target
	if sr.Upstream != "" {
		u = x.snap.upstreams[sr.Upstream]
		if u == nil {
			res.Err = fmt.Errorf("%w: unknown upstream %q", ErrNoTarget, sr.Upstream)
			b.complete()
			return j, false
		}
		if b.tried == nil {
			if len(b.reqs) <= len(b.inlineTried) {
				b.tried = b.inlineTried[:len(b.reqs)]
			} else {
				b.tried = make([]lb.Tried, len(b.reqs))
			}
		}
		if res.Tries == 0 {
			u.lb.RecordRequest()
		}
		var err error
		t, err = x.cc.w.picker(u).Pick(nil, &b.tried[i])
		if err != nil || t == nil {
			if res.Err == nil {
				res.Err = ErrNoTarget
			}
			b.complete()
			return j, false
		}
		b.tried[i].Add(t)
		t.Begin()
		addr = t.Addr
	}
	res.Tries++
	res.Addr = addr
	timeout := sr.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
		if u != nil {
			timeout = time.Duration(u.readTimeout)
		}
	}
	return subJob{i: i, u: u, t: t, began: x.cc.w.now, sr: sr, addr: addr, timeout: timeout}, true
}

// finished records one exchange's result on the worker: health feedback,
// a retry on another target when the upstream's policy allows it, or the
// result.
func (b *subBatch) finished(i int, u *Upstream, t *Target, began int64, resp SubResponse) {
	r := b.r
	cc, x := r.cc, r.x
	alive := !cc.closed && cc.x == x && x.gen == r.gen && x.suspendSeq == r.seq && x.suspended
	res := &b.resps[i]
	tries := res.Tries
	if t != nil && (errors.Is(resp.Err, context.Canceled) || errors.Is(resp.Err, errSubBadRequest)) {
		t.Cancel() // the client went away, or the request could not be written: says nothing about the target
		t = nil
	}
	if t != nil {
		o := subOutcome(resp, cc.w.now-began)
		t.End(o)
		if alive && cc.w.now < b.deadline && tries < u.tries && tries < lb.MaxTries &&
			u.lb.ShouldRetry(methodBytes(b.reqs[i].Method), tries, o) {
			*res = SubResponse{Tries: tries, Err: resp.Err}
			b.start(x, i)
			return
		}
	}
	resp.Tries, resp.Addr = tries, res.Addr
	*res = resp
	if !alive {
		return // the client went away, the deadline passed or the request ended
	}
	b.complete()
}

// complete counts one finished sub-request; the last one resumes.
func (b *subBatch) complete() {
	b.pending--
	if b.pending == 0 {
		b.finish()
	}
}

// finish resumes the request with the results. The last result comes in
// a callback of the worker's loop, where the request resumes at once; a
// Resume (posted to the loop) would cost a wake-up of the loop per
// request. Inside Subrequests (every sub-request failed at once) it is
// posted: the handler has not returned Suspend yet.
func (b *subBatch) finish() {
	done, resps := b.done, b.resps
	fn := func(x *Ctx) Status { return done(x, resps) }
	if b.inCall {
		b.r.Resume(fn)
		return
	}
	c := completion{r: b.r, fn: fn}
	c.deliver()
}

func methodBytes(m string) []byte {
	if m == "" {
		return []byte("GET")
	}
	return []byte(m)
}

func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Mirror sends sr without waiting for it (traffic mirroring, shadow
// testing): the worker picks the target, the exchange runs on the offload
// pool, the answer is read and dropped, and the outcome goes to the
// target's health. The request goes on at once and never sees the mirror's
// result. It reports false, sending nothing, when the upstream has no
// usable target or the offload pool is full: a mirror is skipped, never
// the request.
func (x *Ctx) Mirror(sr SubRequest) bool {
	w := x.cc.w
	addr := sr.Addr
	var u *Upstream
	var t *Target
	if sr.Upstream != "" {
		if u = x.snap.upstreams[sr.Upstream]; u == nil {
			return false
		}
		var tried lb.Tried
		var err error
		if t, err = w.picker(u).Pick(nil, &tried); err != nil || t == nil {
			return false
		}
		t.Begin()
		addr = t.Addr
	}
	timeout := sr.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
		if u != nil {
			timeout = time.Duration(u.readTimeout)
		}
	}
	pool := w.srv.subPoolFor(u)
	began := w.now
	ok := x.Go(func() { w.mirror(pool, &sr, addr, timeout, t, began) })
	if !ok && t != nil {
		t.Cancel()
	}
	return ok
}

// mirror runs a mirror's exchange, on the offload pool, and gives its
// outcome to its target (t; nil for an address) on the worker. No policy
// code runs here, but a panic of the engine's would end the process and
// leave the target's attempt open (its in-flight count up for good): it
// is the mirror's failure, an I/O error for the target, and the stack
// goes to the log.
func (w *worker) mirror(pool *subPool, sr *SubRequest, addr string, timeout time.Duration, t *Target, began int64) {
	defer func() {
		if r := recover(); r != nil {
			w.srv.logf("mirror to %s panicked: %v\n%s", addr, r, panicStack())
			if t != nil {
				w.post(completion{run: func() { t.End(lb.Outcome{Latency: time.Duration(w.now - began), IOError: true}) }})
			}
		}
	}()
	resp := doSubRequest(context.Background(), pool, sr, addr, timeout)
	if t != nil {
		w.post(completion{run: func() { t.End(subOutcome(resp, w.now-began)) }})
	}
}

// subOutcome describes a sub-request's exchange for the target's health.
func subOutcome(resp SubResponse, latency int64) lb.Outcome {
	o := lb.Outcome{Latency: time.Duration(latency), Status: resp.Status}
	switch {
	case resp.Err == nil, errors.Is(resp.Err, ErrSubResponseTooLarge):
	case isConnectError(resp.Err):
		o.ConnectFailed = true
	case errors.Is(resp.Err, context.DeadlineExceeded):
		o.TimedOut = true
	default:
		o.IOError = true
	}
	return o
}
