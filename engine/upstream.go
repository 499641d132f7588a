package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/panjf2000/gnet/v2"

	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/pool"
)

// upState is where an upstream connection is in its exchange.
type upState uint8

const (
	upConnecting upState = iota // dial in progress (off loop)
	upIdle                      // in the worker's keep-alive pool
	upAwaitHead                 // request sent (or being sent), response head awaited
	upBody                      // relaying the response body
	upTunnel                    // raw bytes after 101
)

// upstreamConn is a connection to a target, owned by one worker. While a
// request uses it, owner is that request's client connection.
type upstreamConn struct {
	c      gnet.Conn
	w      *worker
	target *Target
	up     *Upstream // settings of the config version that dialed it
	link   pool.IdleLink
	timer  timerNode

	owner    *clientConn
	state    upState
	resp     http1.Response
	body     bodyFramer
	dechunk  bool  // the client speaks HTTP/1.0: send payload without chunk framing
	paused   bool  // the client is slow: the body comes through pump (handoff.go)
	pump     *pump // reading the response body while detached
	detached bool  // gnet no longer has the connection
	watched  bool
	requests int
	closed   bool
	dead     bool // gnet closed the connection: nothing may be written (closing.go)
}

// Link implements pool.IdleConn.
func (uc *upstreamConn) Link() *pool.IdleLink { return &uc.link }

// failKind classifies an upstream failure for retries and the client's status.
type failKind uint8

const (
	failConnect        failKind = iota // dial refused or errored
	failConnectTimeout                 // dial timed out
	failClosed                         // connection closed before a response head
	failTimeout                        // no response head in time
	failBadResponse                    // response head did not parse
	failStatus                         // a retried status (the response itself is not kept)
)

func (k failKind) status() int {
	switch k {
	case failConnectTimeout, failTimeout:
		return 504
	}
	return 502
}

// proxy sends the request to a target of the route's upstream: over an idle
// pooled connection when the worker has one, else over a new one.
func (cc *clientConn) proxy() {
	x := cc.x
	u := x.upstreamOf()
	if u == nil {
		x.failure = "the route has no upstream and no policy answered"
		cc.respondError(500, "route has no upstream")
		return
	}
	if cc.attempts == 0 {
		cc.prepareUpstreamHead()
		if err := x.reqEdits.Err(); err != nil {
			x.failure = "a policy made an invalid upstream request edit: " + err.Error()
			cc.respondError(500, "policy failed")
			return
		}
	}
	cc.proxyTo(cc.pickTarget(u))
}

// proxyTo sends the request to t, a target just picked (nil: none left).
func (cc *clientConn) proxyTo(t *Target) {
	x := cc.x
	if t == nil {
		if cc.attempts > 0 {
			// No other target to retry on: the client gets the failure itself.
			cc.respondError(cc.lastFail.status(), x.failure)
			return
		}
		cc.respondError(503, "no healthy upstream target")
		return
	}
	cc.attempts++
	cc.tried.Add(t)
	x.target = t
	if uc := cc.w.takeIdle(t); uc != nil {
		cc.w.m.Inc(cc.w.srv.metrics.upstreamReused)
		cc.attach(uc)
		return
	}
	cc.w.dial(cc, t)
}

// prepareUpstreamHead records the edits every attempt shares.
func (cc *clientConn) prepareUpstreamHead() {
	x := cc.x
	e := &x.reqEdits
	e.ForwardedFor(cc.remoteIP)
	e.ForwardedProto(protoHTTP)
	if x.req.HasHost {
		e.ForwardedHost(x.req.Host.In(x.head))
	}
	if x.req.ExpectContinue {
		// The gateway answers 100 Continue itself when it is ready to
		// relay the body; the upstream must not answer it again.
		e.RemoveString("Expect")
	}
	r := x.route
	if r.stripPrefix && x.prefixLen > 0 && !e.TargetSet() { // a policy's target wins
		path := x.req.Path.In(x.head)
		rest := path[x.prefixLen:]
		t := append(cc.w.out[:0], '/')
		if len(rest) > 0 && rest[0] == '/' {
			rest = rest[1:]
		}
		t = append(t, rest...)
		if x.req.HasQuery {
			t = append(t, '?')
			t = append(t, x.req.Query.In(x.head)...)
		}
		e.SetTarget(t)
		cc.w.out = t[:0]
	}
	x.hostByPolicy = e.HostSet()
	if r.hostLiteral != nil && !x.hostByPolicy { // a policy's host wins
		e.SetHost(r.hostLiteral)
	}
	if x.req.Upgrade {
		e.KeepUpgrade = true
	}
	if x.holdsBody() {
		x.upstreamBodyEdits()
	}
	x.traceContext()
}

var (
	protoHTTP    = []byte("http")
	continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")
)

// attach sends the request on uc, which the worker owns and nobody uses.
func (cc *clientConn) attach(uc *upstreamConn) {
	x := cc.x
	uc.owner = cc
	uc.state = upAwaitHead
	uc.resp.Reset()
	uc.resp.Limits = x.snap.respLimits
	cc.up = uc
	if x.route.hostUpstream && !x.hostByPolicy {
		x.reqEdits.SetHost(bytesOf(uc.target.Addr))
	}
	cc.w.out = http1.AppendRequestHead(cc.w.out[:0], x.head, &x.req, &x.reqEdits)
	uc.requests++
	uc.write(cc.w.out)
	if x.holdsBody() {
		uc.write(x.body) // held by a policy: framed by prepareUpstreamHead, replayable
	}
	if cc.reqBodyDone {
		uc.armRead()
		return
	}
	if x.req.ExpectContinue && x.req.Minor == 1 && !cc.bodyStarted && cc.c.InboundBuffered() == 0 {
		cc.write(continueLine)
	}
	uc.armAwait(uc.up.sendTimeout)
	cc.read = readBody
	if cc.pump != nil { // the body waits in the client's socket (holdUpload)
		cc.w.watch(uc)
		return
	}
	cc.relayRequestBody()
}

func (uc *upstreamConn) armRead() { uc.armAwait(uc.up.readTimeout) }

// armAwait arms the upstream timer d from now; before the response head,
// the attempt's per-try timeout may end it sooner.
func (uc *upstreamConn) armAwait(d int64) {
	when := uc.w.now + d
	if uc.state == upAwaitHead && uc.up.perTryTimeout > 0 && uc.owner != nil {
		if end := uc.owner.attemptStart + uc.up.perTryTimeout; end < when {
			when = end
		}
	}
	uc.w.wheel.arm(&uc.timer, when)
}

// takeIdle returns a pooled connection to t, or nil.
func (w *worker) takeIdle(t *Target) *upstreamConn {
	for {
		ic := w.idle.Get(t)
		if ic == nil {
			return nil
		}
		uc := ic.(*upstreamConn)
		if !uc.closed {
			w.wheel.disarm(&uc.timer)
			return uc
		}
	}
}

// dial opens a connection to t off the loop and enrolls it on this worker's
// loop; OnOpen then attaches it to the client that asked, if it still waits.
func (w *worker) dial(cc *clientConn, t *Target) {
	uc := &upstreamConn{w: w, target: t, up: cc.x.upstreamOf(), owner: cc, state: upConnecting}
	uc.timer.owner = uc
	cc.up = uc
	if w.dialing >= maxDialsPerWorker {
		// A burst of new connections waits its turn instead of failing:
		// the dials in progress finish within their connect timeout.
		w.dialQueue = append(w.dialQueue, uc)
		return
	}
	w.startDial(uc)
}

// maxDialsPerWorker bounds the dial goroutines of one worker.
const maxDialsPerWorker = 512

// startDial dials uc's target on a goroutine; the result comes back to the
// loop through Enroll (OnOpen) or Execute (failure).
func (w *worker) startDial(uc *upstreamConn) {
	w.dialing++
	w.m.Inc(w.srv.metrics.upstreamDials)
	timeout := uc.up.connectTimeout
	addr := uc.target.Addr
	loop := w.loop
	dial := w.srv.opts.Dial
	go func() {
		conn, err := dialWith(dial, addr, timeout)
		if err != nil {
			w.execute(func() { uc.onDialFailed(err) })
			return
		}
		ch, err := loop.Enroll(gnet.NewContext(context.Background(), uc), conn)
		if err != nil {
			_ = conn.Close()
			w.execute(func() { uc.onDialFailed(err) })
			return
		}
		if res := <-ch; res.Err != nil {
			w.execute(func() { uc.onDialFailed(res.Err) })
		}
	}()
}

// dialWith opens a TCP connection to addr within timeout (nanoseconds),
// with Options.Dial when set. It blocks: off the loops only.
func dialWith(dial func(ctx context.Context, addr string) (net.Conn, error), addr string, timeout int64) (net.Conn, error) {
	if dial == nil {
		return net.DialTimeout("tcp", addr, durationOf(timeout))
	}
	ctx, cancel := context.WithTimeout(context.Background(), durationOf(timeout))
	defer cancel()
	return dial(ctx, addr)
}

// dialDone frees a dial slot and starts the next queued dial whose client
// still waits for it.
func (w *worker) dialDone() {
	w.dialing--
	for len(w.dialQueue) > 0 && w.dialing < maxDialsPerWorker {
		uc := w.dialQueue[0]
		w.dialQueue[0] = nil
		w.dialQueue = w.dialQueue[1:]
		if cc := uc.owner; cc == nil || cc.closed || cc.up != uc {
			uc.closed = true
			continue
		}
		w.startDial(uc)
	}
	if len(w.dialQueue) == 0 {
		w.dialQueue = w.dialQueue[:0:0] // let a burst's backing array go
	}
}

func (w *worker) onUpstreamOpen(uc *upstreamConn, c gnet.Conn) {
	w.dialDone()
	uc.c = c
	if uc.closed { // closed while dialing (the request gave up): nobody wants it
		_ = c.Close()
		return
	}
	cc := uc.owner
	if cc == nil || cc.closed || cc.up != uc {
		// The client gave up meanwhile: keep the connection for the next one.
		uc.owner = nil
		uc.toPool()
		return
	}
	cc.attach(uc)
}

func (uc *upstreamConn) onDialFailed(err error) {
	uc.w.dialDone()
	cc := uc.owner
	uc.closed = true
	if cc == nil || cc.closed || cc.up != uc {
		return
	}
	cc.up = nil
	kind, msg := failConnect, "upstream connect failed"
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		kind, msg = failConnectTimeout, "upstream connect timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "upstream connect refused"
	case errors.Is(err, os.ErrDeadlineExceeded):
		kind, msg = failConnectTimeout, "upstream connect timed out"
	}
	cc.endAttempt(kind, 0)
	cc.upstreamFailed(uc, kind, msg)
}

// upstreamFailed handles a failure before any response byte reached the
// client: another target gets the request when that is safe, else the
// client gets the error.
func (cc *clientConn) upstreamFailed(uc *upstreamConn, kind failKind, msg string) {
	x := cc.x
	if cc.closed || cc.responded {
		return
	}
	x.failure = msg
	cc.lastFail = kind
	cc.w.countUpstreamFailure(kind)
	if x.status == 0 && cc.retryable(kind) {
		cc.w.m.Inc(cc.w.srv.metrics.upstreamRetries)
		cc.retries++
		cc.read = readHold
		cc.proxy()
		return
	}
	if !cc.reqBodyDone && cc.bodyStarted {
		cc.keepAlive = false // part of the body is gone; the rest cannot be framed for anyone
	}
	cc.respondError(kind.status(), msg)
}

// retryable says whether the request may go to another target. Nothing may
// be replayed once body bytes were consumed. A failed connect sent nothing,
// so it may retry for any method; otherwise the upstream's retry policy
// (idempotence, conditions, budget) decides.
func (cc *clientConn) retryable(kind failKind) bool {
	x := cc.x
	u := x.upstreamOf()
	if cc.bodyStarted || cc.attempts >= u.tries || !cc.untriedLeft(u) {
		return false
	}
	o := outcomeOf(kind, 0, 0)
	if o.ConnectFailed && u.lb.Config().Retry.On&lb.RetryOnConnect != 0 {
		// Nothing was sent: any method may go elsewhere, as in nginx
		// (whose non_idempotent rule is about requests already sent).
		return u.lb.AllowRetry()
	}
	return u.lb.ShouldRetry(x.req.MethodName.In(x.head), cc.attempts, o)
}

func (uc *upstreamConn) onTraffic() {
	if uc.closed {
		return
	}
	cc := uc.owner
	if cc == nil {
		// An idle connection must not speak; whatever it says, it is done.
		uc.close()
		return
	}
	if cc.detached {
		return // the client is away (upload pump): the response waits in the buffer
	}
	switch uc.state {
	case upAwaitHead:
		uc.readHead()
	case upBody:
		uc.relayBody()
	case upTunnel:
		buf, _ := uc.c.Peek(-1)
		cc.write(buf)
		discard(uc.c, len(buf))
	}
}

func (uc *upstreamConn) readHead() {
	cc := uc.owner
	x := cc.x
	for {
		buf, _ := uc.c.Peek(-1)
		if len(buf) == 0 {
			return
		}
		n, err := uc.resp.Parse(buf, x.req.Method)
		if err != nil {
			cc.endAttempt(failBadResponse, 0)
			cc.up = nil
			uc.close()
			cc.upstreamFailed(uc, failBadResponse, "invalid response from upstream ("+err.Error()+")")
			return
		}
		if n == 0 {
			return
		}
		if uc.resp.Status < 200 && uc.resp.Status != 101 {
			// Interim responses (103 Early Hints...) go to HTTP/1.1 clients; 100 Continue was
			// the gateway's own business.
			if uc.resp.Status != 100 && x.req.Minor == 1 {
				cc.write(buf[:n])
			}
			discard(uc.c, n)
			uc.resp.Reset()
			continue
		}
		cc.onResponseHead(uc, buf, n)
		return
	}
}

// onResponseHead filters the response head, sends it with whatever body
// bytes came with it in one write, and starts relaying the body.
func (cc *clientConn) onResponseHead(uc *upstreamConn, buf []byte, n int) {
	x := cc.x
	r := &uc.resp
	cc.endAttempt(0, r.Status)
	u := x.upstreamOf()
	if r.Status >= 400 && !cc.bodyStarted && cc.attempts < u.tries && cc.untriedLeft(u) &&
		u.lb.ShouldRetry(x.req.MethodName.In(x.head), cc.attempts, outcomeOf(0, r.Status, 0)) {
		// Nothing reached the client yet: try another target, as nginx's
		// proxy_next_upstream http_503 does — if there is one; else this
		// response is the answer.
		if t := cc.pickTarget(u); t != nil {
			cc.up = nil
			uc.close() // its unread body makes it unusable
			cc.w.m.Inc(cc.w.srv.metrics.upstreamRetries)
			cc.retries++
			cc.lastFail = failStatus
			x.failure = "upstream answered " + strconv.Itoa(r.Status)
			cc.read = readHold
			cc.proxyTo(t)
			return
		}
	}
	x.failure = "" // an earlier attempt's failure was retried away
	x.to(stageResponse)
	x.resp = r
	x.respBuf = buf
	cc.filterResponse()
	if x.local {
		// A header filter answered (or failed): the upstream response is
		// dropped, with its connection (its body was not read).
		cc.up = nil
		uc.close()
		cc.sendLocal()
		return
	}
	x.respBuf = nil

	e := &x.respEdits
	upgrade := r.Status == 101 && x.req.Upgrade
	switch r.Body {
	case http1.BodyLength:
		uc.body.reset(frameLength, r.ContentLength)
	case http1.BodyChunked:
		uc.body.reset(frameChunked, 0)
	case http1.BodyUntilClose:
		uc.body.reset(frameUntilClose, 0)
		cc.keepAlive = false
	default:
		uc.body.reset(frameNone, 0)
	}
	if !upgrade && x.wantsBodyFilter(r) {
		cc.startFilteredBody(uc, buf, n)
		return
	}
	uc.dechunk = r.Body == http1.BodyChunked && x.req.Minor == 0
	if uc.dechunk {
		e.RemoveString("Transfer-Encoding")
		cc.keepAlive = false // the body ends when the connection does
	}
	switch {
	case upgrade:
		e.KeepUpgrade = true
	case !cc.keepAliveNow():
		e.SetString("Connection", "close")
	case x.req.Minor == 0:
		e.SetString("Connection", "keep-alive")
	}
	out := http1.AppendResponseHead(cc.w.out[:0], buf, r, e)
	cc.w.out = out
	x.status = r.Status
	uc.w.wheel.disarm(&uc.timer)

	if upgrade {
		cc.write(out)
		rest := buf[n:]
		if len(rest) > 0 {
			cc.write(rest)
		}
		discard(uc.c, len(buf))
		cc.startTunnel(uc)
		return
	}
	if uc.dechunk {
		cc.write(out)
		discard(uc.c, n)
		uc.state = upBody
		uc.relayBody()
		return
	}
	rest := buf[n:]
	m, done, err := uc.body.take(rest)
	cc.iov[0], cc.iov[1] = out, rest[:m]
	if m > 0 {
		cc.writev()
	} else {
		cc.write(out)
	}
	cc.iov[0], cc.iov[1] = nil, nil
	x.bodySent += int64(m)
	discard(uc.c, n+m)
	uc.state = upBody
	uc.afterRelay(done, err, len(rest) > m)
}

// relayBody moves response-body bytes from the upstream to the client.
func (uc *upstreamConn) relayBody() {
	buf, _ := uc.c.Peek(-1)
	if len(buf) == 0 {
		return
	}
	n, done, err, trailing := uc.relayBytes(buf)
	discard(uc.c, n)
	uc.afterRelay(done, err, trailing)
}

// relayBytes writes the body bytes at the start of src to the client and
// returns how many it consumed, whether the body ended, and whether bytes
// followed the end.
func (uc *upstreamConn) relayBytes(src []byte) (n int, done bool, err error, trailing bool) {
	cc := uc.owner
	if cc.x.filterMode != filterNone {
		return uc.filterBytes(src)
	}
	if uc.dechunk {
		for n < len(src) && !done {
			var m int
			var data []byte
			m, data, done, err = uc.body.takeData(src[n:])
			if err != nil || m == 0 {
				break
			}
			if len(data) > 0 {
				cc.write(data)
				cc.x.bodySent += int64(len(data))
			}
			n += m
		}
		return n, done, err, done && n < len(src)
	}
	n, done, err = uc.body.take(src)
	if n > 0 {
		cc.write(src[:n])
		cc.x.bodySent += int64(n)
	}
	return n, done, err, done && n < len(src)
}

// afterRelay decides what follows a relay step: the end of the response,
// a framing error (the client has part of a response: it must be closed),
// or waiting for more, pausing first if the client is not keeping up.
func (uc *upstreamConn) afterRelay(done bool, err error, trailing bool) {
	cc := uc.owner
	if err == errFilterFailed {
		return // the request was ended already
	}
	if err == errBufferOverflow && cc.x.status == 0 {
		cc.x.failure = "upstream response body larger than the buffer a policy asked for"
		cc.dropUpstream()
		cc.respondError(502, "upstream response too large for the gateway to transform")
		return
	}
	if err != nil {
		cc.x.failure = "invalid response body from upstream: " + err.Error()
		cc.dropUpstream()
		cc.closeAfterFlush()
		return
	}
	if done {
		if trailing {
			uc.resp.KeepAlive = false // bytes after the response: the framing is off
		}
		cc.responseComplete(uc)
		return
	}
	if uc.pump == nil {
		uc.armRead()
		if cc.c.OutboundBuffered() > highWater {
			uc.pauseDownload()
		}
	}
}

// responseComplete returns the upstream connection to the pool when it can
// carry another request, and finishes the client's response.
func (cc *clientConn) responseComplete(uc *upstreamConn) {
	cc.up = nil
	uc.owner = nil
	u := uc.up
	reusable := uc.resp.KeepAlive && cc.reqBodyDone && !uc.closed && !uc.detached &&
		(u.maxRequests <= 0 || uc.requests < u.maxRequests) && !cc.w.srv.draining.Load()
	if reusable {
		uc.toPool()
	} else {
		uc.close()
	}
	cc.finishResponse()
}

// toPool makes uc idle in its worker's keep-alive pool.
func (uc *upstreamConn) toPool() {
	if uc.closed {
		return
	}
	if uc.up.maxIdle <= 0 { // pool.max_idle: -1 keeps none
		uc.close()
		return
	}
	uc.state = upIdle
	uc.paused = false
	w := uc.w
	w.wheel.disarm(&uc.timer)
	if ev := w.idle.Put(uc.target, uc, w.now, uc.up.maxIdle); ev != nil {
		ev.(*upstreamConn).close()
	}
}

// close closes the connection; OnClose follows.
func (uc *upstreamConn) close() {
	uc.owner = nil
	if uc.pump != nil {
		uc.pump.finish(false)
		uc.pump = nil
	}
	if uc.closed {
		return
	}
	uc.closed = true
	uc.w.wheel.disarm(&uc.timer)
	if uc.link.Pooled() {
		uc.w.idle.Remove(uc)
	}
	if uc.c != nil && !uc.detached {
		_ = uc.c.Close()
	}
}

func (uc *upstreamConn) onClose(error) {
	if uc.detached {
		return // gnet let go of it; the pump or tunnel has the socket
	}
	wasClosed := uc.closed
	uc.closed = true
	uc.w.wheel.disarm(&uc.timer)
	if uc.link.Pooled() {
		uc.w.idle.Remove(uc)
	}
	cc := uc.owner
	uc.owner = nil
	if wasClosed || cc == nil || cc.up != uc {
		return
	}
	if cc.detached {
		cc.up = nil
		cc.abortDetached("upstream closed the connection during the upload")
		return
	}
	switch uc.state {
	case upAwaitHead:
		cc.up = nil
		cc.endAttempt(failClosed, 0)
		cc.upstreamFailed(uc, failClosed, "upstream closed the connection before responding")
	case upBody:
		if uc.body.kind == frameUntilClose {
			uc.owner = cc
			if cc.x.filterMode != filterNone && !uc.finishFilteredBody() {
				return
			}
			cc.responseComplete(uc)
			return
		}
		cc.up = nil
		cc.x.failure = "upstream closed the connection mid-response"
		cc.closeAfterFlush()
	case upTunnel:
		cc.up = nil
		cc.closeAfterFlush()
	}
}

func (uc *upstreamConn) onTimer(int64) {
	cc := uc.owner
	if cc == nil {
		uc.close()
		return
	}
	if cc.detached {
		cc.up = nil
		uc.close()
		cc.abortDetached("upstream timed out during the upload")
		return
	}
	switch uc.state {
	case upAwaitHead:
		cc.up = nil
		uc.close()
		cc.endAttempt(failTimeout, 0)
		cc.upstreamFailed(uc, failTimeout, "upstream timed out")
	case upBody, upTunnel:
		cc.up = nil
		uc.close()
		cc.x.failure = "upstream timed out mid-response"
		cc.closeAfterFlush()
	}
}

// startTunnel turns the exchange into a raw byte relay after 101.
func (cc *clientConn) startTunnel(uc *upstreamConn) {
	uc.state = upTunnel
	cc.read = readTunnel
	cc.keepAlive = false
	cc.reqBodyDone = true
	cc.disarmTimer()
	uc.w.wheel.arm(&uc.timer, uc.w.now+cc.x.snap.tunnelIdleTimeout)
	cc.handoffTunnel(uc)
}
