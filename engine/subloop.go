package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sluice-gw/sluice/http1"
)

// Sub-requests on the event loop. A request's sub-requests (Subrequests)
// are written and read by its own worker, on connections enrolled on the
// worker's loop as its upstream connections are: no goroutine and no
// hand-off per exchange, which is what capture_multi costs nginx. Only a
// dial runs on a goroutine (as the proxy's do), and its connection then
// joins the loop. Each worker keeps its idle sub-request connections per
// target (loopSubPool), apart from the proxy's keep-alive pool: an
// exchange's answer is read whole into memory, not relayed.
//
// The offload client (subclient.go) stays for mirrors, which must never
// make the worker wait for anything, and for tests of its own.

// subJob is one try of a sub-request, as the worker decided it (target,
// timeout).
type subJob struct {
	i       int // in the batch's reqs
	u       *Upstream
	t       *Target
	began   int64
	sr      *SubRequest
	addr    string
	timeout time.Duration
}

// loopSubState is where a loop sub-request connection is.
type loopSubState uint8

const (
	lsConnecting loopSubState = iota // dialing; msg waits
	lsAwaitHead                      // the request is written
	lsBody                           // the head is in, the body comes
	lsIdle                           // in the worker's pool
)

// loopSubKey is what a pooled connection reaches: a target of an upstream,
// or a plain address.
type loopSubKey struct {
	t    *Target
	addr string
}

// loopSub is one sub-request connection on a worker's loop, and the
// exchange it carries (b nil: none).
type loopSub struct {
	w       *worker
	c       gnet.Conn
	key     loopSubKey
	timer   timerNode
	state   loopSubState
	closed  bool // closed by us, or gone
	dialing bool // holds one of the worker's dial slots (subDialing)
	// The pool's idle limits, from the upstream of the last exchange.
	maxIdle     int
	idleTimeout int64

	// The exchange.
	b        *subBatch
	job      subJob
	msg      []byte // the request, written once the connection is open; the buffer serves the next exchange too
	method   http1.Method
	reused   bool // taken from the pool: a failure before any answer is a closed kept connection
	answered bool // a byte of the answer came
	resp     http1.Response
	out      SubResponse
	chunked  http1.ChunkedDecoder
	left     int64 // body bytes still due (BodyLength)
}

// loopSubPool is a worker's idle sub-request connections, by key; the
// newest last.
type loopSubPool map[loopSubKey][]*loopSub

// take returns an idle connection to key, or nil.
func (w *worker) takeLoopSub(key loopSubKey) *loopSub {
	list := w.subIdle[key]
	for len(list) > 0 {
		ls := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		w.subIdle[key] = list
		if !ls.closed {
			w.wheel.disarm(&ls.timer)
			return ls
		}
	}
	return nil
}

// startLoopSub runs job on the worker's loop: on an idle connection to its
// target, or a new one. The result reaches b.finished on the loop.
func (b *subBatch) startLoopSub(w *worker, j subJob) {
	head, err := appendSubRequestHead(w.out[:0], j.sr, j.addr)
	if err != nil {
		b.finished(j.i, j.u, j.t, j.began, SubResponse{Err: err})
		return
	}
	w.out = head[:0]
	key := loopSubKey{t: j.t, addr: j.addr}
	ls := w.takeLoopSub(key)
	reused := ls != nil
	if ls == nil {
		ls = newLoopSub(w, key)
	}
	// The request goes into the connection's own buffer, kept from one
	// exchange to the next: it waits there while a new connection dials.
	ls.msg = append(append(ls.msg[:0], head...), j.sr.Body...)
	ls.b, ls.job, ls.reused, ls.answered = b, j, reused, false
	ls.method = subMethod(j.sr.Method)
	ls.maxIdle, ls.idleTimeout = 64, int64(subIdleTimeout)
	if u := j.u; u != nil {
		ls.maxIdle, ls.idleTimeout = u.maxIdle, u.idleTimeout
	}
	// The try's deadline: its timeout, within the suspension's.
	deadline := w.now + int64(j.timeout)
	if b.deadline != 0 && b.deadline < deadline {
		deadline = b.deadline
	}
	w.wheel.arm(&ls.timer, deadline)
	if reused {
		ls.send()
		return
	}
	ls.dial(connectTimeoutOf(j.u))
}

func newLoopSub(w *worker, key loopSubKey) *loopSub {
	ls := &loopSub{w: w, key: key, state: lsConnecting}
	ls.timer.owner = ls
	return ls
}

// connectTimeoutOf is u's connect timeout; 5s for a plain address.
func connectTimeoutOf(u *Upstream) int64 {
	if u != nil && u.connectTimeout > 0 {
		return u.connectTimeout
	}
	return int64(5 * time.Second)
}

// errSubDials: the worker has maxDialsPerWorker sub-request connections
// being opened already; one more fails at once instead of queueing.
var errSubDials = errors.New("engine: sub-request: too many connections being opened")

// dial opens the connection off the loop and enrolls it on the worker's;
// OnOpen (onOpen) or a failure comes back to the loop. At most
// maxDialsPerWorker dials run at once per worker (a goroutine each).
func (ls *loopSub) dial(timeout int64) {
	w, addr := ls.w, ls.key.addr
	if w.subDialing >= maxDialsPerWorker {
		ls.close() // and its deadline with it
		ls.end(SubResponse{Err: errSubDials}, false)
		return
	}
	w.subDialing++
	ls.dialing = true
	w.dialOntoLoop(addr, timeout, ls, ls.onDialFailed)
}

// dialOntoLoop connects to addr on a goroutine and enrolls the connection
// on the worker's loop with ctx as its context: OnOpen follows on the
// loop, or failed(err) does.
func (w *worker) dialOntoLoop(addr string, timeout int64, ctx any, failed func(error)) {
	dial, loop := w.srv.opts.Dial, w.loop
	go func() {
		conn, err := dialWith(dial, addr, timeout)
		if err == nil {
			var ch <-chan gnet.RegisteredResult
			if ch, err = loop.Enroll(gnet.NewContext(context.Background(), ctx), conn); err != nil {
				_ = conn.Close()
			} else if res := <-ch; res.Err != nil {
				err = res.Err
			}
		}
		if err != nil {
			_ = w.execute(func() { failed(err) })
		}
	}()
}

// dialEnded frees the dial's slot.
func (ls *loopSub) dialEnded() {
	if ls.dialing {
		ls.dialing = false
		ls.w.subDialing--
	}
}

func (ls *loopSub) onDialFailed(err error) {
	ls.dialEnded()
	ls.closed = true
	if ls.b == nil {
		return // the exchange timed out meanwhile
	}
	ls.fail(err)
}

// onOpen is OnOpen for a dialed connection: the request goes out, unless
// the exchange ended meanwhile.
func (ls *loopSub) onOpen(c gnet.Conn) {
	ls.dialEnded()
	ls.c = c
	if ls.closed || ls.b == nil {
		ls.closed = true
		_ = c.Close()
		return
	}
	ls.send()
}

func (ls *loopSub) send() {
	ls.state = lsAwaitHead
	ls.resp.Limits = subRespLimits
	ls.resp.Reset()
	ls.out = SubResponse{}
	ls.chunked = http1.ChunkedDecoder{}
	if _, err := ls.c.Write(ls.msg); err != nil {
		ls.fail(err)
	}
}

func (ls *loopSub) onTraffic() {
	if ls.closed {
		return
	}
	if ls.b == nil {
		ls.close() // an idle connection must not speak
		return
	}
	for {
		buf, _ := ls.c.Peek(-1)
		if len(buf) == 0 {
			return
		}
		ls.answered = true
		switch ls.state {
		case lsAwaitHead:
			n, err := ls.resp.Parse(buf, ls.method)
			if err != nil {
				ls.fail(badSubHead(err))
				return
			}
			if n == 0 {
				return // the rest of the head comes later (Parse bounds its size)
			}
			r := &ls.resp
			if interimStatus(r.Status) {
				discard(ls.c, n)
				r.Reset()
				continue
			}
			if r.Upgrade {
				ls.fail(errSubUpgrade)
				return
			}
			ls.out.Status = r.Status
			if !ls.job.sr.NoHeader {
				ls.out.Header = subHeader(r, buf)
			}
			discard(ls.c, n)
			switch r.Body {
			case http1.BodyNone:
				ls.done()
				return
			case http1.BodyLength:
				if r.ContentLength > subMaxBody(ls.job.sr) {
					ls.fail(ErrSubResponseTooLarge)
					return
				}
				ls.left = r.ContentLength
				ls.out.Body = make([]byte, 0, r.ContentLength)
				if ls.left == 0 {
					ls.done()
					return
				}
			}
			ls.state = lsBody
		case lsBody:
			if !ls.body(buf) {
				return
			}
		default:
			return
		}
	}
}

// body takes what buf holds of the body; false once the exchange ended or
// more must come.
func (ls *loopSub) body(buf []byte) bool {
	switch ls.resp.Body {
	case http1.BodyLength:
		take := min(int64(len(buf)), ls.left)
		ls.out.Body = append(ls.out.Body, buf[:take]...)
		discard(ls.c, int(take))
		ls.left -= take
		if ls.left == 0 {
			ls.done()
		}
		return false
	case http1.BodyChunked:
		src := buf
		for len(src) > 0 && !ls.chunked.Done() {
			n, data, err := ls.chunked.Decode(src)
			if err != nil {
				ls.fail(fmt.Errorf("engine: sub-request: bad chunked body: %w", err))
				return false
			}
			if int64(len(ls.out.Body)+len(data)) > subMaxBody(ls.job.sr) {
				ls.fail(ErrSubResponseTooLarge)
				return false
			}
			ls.out.Body = append(ls.out.Body, data...)
			src = src[n:]
		}
		discard(ls.c, len(buf)-len(src))
		if ls.chunked.Done() {
			ls.done()
		}
		return false
	}
	// Until the upstream closes (onClose ends it).
	if int64(len(ls.out.Body)+len(buf)) > subMaxBody(ls.job.sr) {
		ls.fail(ErrSubResponseTooLarge)
		return false
	}
	ls.out.Body = append(ls.out.Body, buf...)
	discard(ls.c, len(buf))
	return false
}

// done ends the exchange with its answer; the connection goes back to the
// pool when the framing allows and nothing follows the answer.
func (ls *loopSub) done() {
	keep := ls.resp.KeepAlive && ls.resp.Body != http1.BodyUntilClose && ls.c.InboundBuffered() == 0
	ls.end(ls.out, keep)
}

// fail ends the exchange with err. A kept connection that failed before
// any answer (the upstream had closed it) is replaced by a new one once,
// for an idempotent method, as the offload client does.
func (ls *loopSub) fail(err error) {
	if ls.reused && !ls.answered && ls.method.Idempotent() && !errors.Is(err, context.DeadlineExceeded) && ls.b != nil {
		fresh := newLoopSub(ls.w, ls.key)
		fresh.b, fresh.job, fresh.msg, fresh.method = ls.b, ls.job, ls.msg, ls.method
		fresh.maxIdle, fresh.idleTimeout = ls.maxIdle, ls.idleTimeout
		fresh.w.wheel.arm(&fresh.timer, ls.timer.when) // the same deadline
		ls.b = nil
		ls.close()
		fresh.dial(connectTimeoutOf(fresh.job.u))
		return
	}
	ls.end(SubResponse{Err: err}, false)
}

// end delivers the exchange's result to its batch, on the loop.
func (ls *loopSub) end(resp SubResponse, keep bool) {
	b, j := ls.b, ls.job
	ls.b, ls.job, ls.msg, ls.out = nil, subJob{}, ls.msg[:0], SubResponse{}
	if keep {
		ls.toPool()
	} else {
		ls.close()
	}
	if b != nil {
		b.finished(j.i, j.u, j.t, j.began, resp)
	}
}

// toPool keeps the connection for the next sub-request to its key.
func (ls *loopSub) toPool() {
	w := ls.w
	if ls.closed || ls.maxIdle <= 0 {
		ls.close()
		return
	}
	list := w.subIdle[ls.key]
	if len(list) >= ls.maxIdle {
		ls.close()
		return
	}
	ls.state = lsIdle
	if w.subIdle == nil {
		w.subIdle = make(loopSubPool)
	}
	w.subIdle[ls.key] = append(list, ls)
	idle := ls.idleTimeout
	if idle <= 0 {
		idle = int64(subIdleTimeout)
	}
	w.wheel.arm(&ls.timer, w.now+idle)
}

// close closes the connection; OnClose follows for an open one.
func (ls *loopSub) close() {
	if ls.closed {
		return
	}
	ls.closed = true
	ls.w.wheel.disarm(&ls.timer)
	if ls.c != nil {
		_ = ls.c.Close()
	}
}

// handleClose is OnClose: an exchange in flight ends (an answer framed by
// the close is complete; anything else failed).
func (ls *loopSub) handleClose() {
	wasClosed := ls.closed
	ls.closed = true
	ls.w.wheel.disarm(&ls.timer)
	if wasClosed || ls.b == nil {
		return
	}
	if ls.state == lsBody && ls.resp.Body == http1.BodyUntilClose {
		ls.end(ls.out, false)
		return
	}
	if ls.answered {
		ls.fail(io.ErrUnexpectedEOF)
		return
	}
	ls.fail(errors.New("engine: sub-request: the upstream closed the connection before answering"))
}

// onTimer: an idle connection's time is up, or the exchange's.
func (ls *loopSub) onTimer(int64) {
	if ls.b == nil {
		ls.close()
		return
	}
	ls.fail(context.DeadlineExceeded)
}
