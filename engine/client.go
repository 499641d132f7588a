package engine

import (
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/sluice-gw/sluice/http1"
)

// Output high- and low-water marks, per connection. Past highWater a relay
// stops queueing into gnet's (unbounded) outbound buffer; below lowWater it
// goes on. See handoff.go for why pausing needs more than that with gnet.
const (
	highWater = 1 << 20
	lowWater  = 256 << 10
	// maxHeldInput bounds client bytes buffered while the engine is not
	// reading them (pipelined requests behind a slow response). Past it the
	// rest of the input is dropped, the request in progress finishes with
	// Connection: close and the connection closes cleanly after it: gnet
	// cannot stop reading a socket that must still be written to, so there
	// is no back-pressure here (docs/configuration.md, fixed limits).
	maxHeldInput = 1 << 20
	// lingerTimeout bounds a lingering close (nginx's lingering_timeout).
	lingerTimeout = int64(5 * time.Second)
	// maxLoggedHead bounds the bytes of a refused head kept for the log.
	maxLoggedHead = 64 << 10
)

// readMode says what the client connection does with input now.
type readMode uint8

const (
	readHead    readMode = iota // parsing the next request head
	readHold                    // a request is in progress: input waits (pipelining)
	readBody                    // relaying the request body upstream
	readDiscard                 // dropping the rest of a request body after a local response
	readBuffer                  // holding the request body for a policy (ReadBody)
	readTunnel                  // raw bytes to the upstream after 101 Switching Protocols
	readNone                    // closing: input is ignored
)

// clientTimer says which deadline the client's timer holds.
type clientTimer uint8

const (
	ctNone    clientTimer = iota
	ctIdle                // keep-alive: no byte of a next request yet
	ctHeader              // the head must be complete by then (slowloris)
	ctBody                // the next request-body byte must come by then
	ctFlush               // closing: output must drain by then
	ctSuspend             // a suspended policy must resume by then (client.policy_timeout)
	ctDelay               // a policy's Delay ends then
	ctLinger              // a lingering close gives up on the client's FIN then
)

// clientConn is a client connection and its one request context. All of
// its methods run on its worker's loop.
type clientConn struct {
	c         gnet.Conn
	w         *worker
	x         *Ctx // the request's context; nil while the connection is idle
	timer     timerNode
	timerKind clientTimer
	remoteIP  []byte

	read      readMode
	reqBody   bodyFramer
	bodyBytes int64 // request body payload relayed, for max_body on chunked bodies
	up        *upstreamConn
	tried     triedSet
	attempts  int
	retries   int // attempts after the first, for the log

	lastFail      failKind
	attemptTarget *Target // the target of the attempt not yet reported to lb
	attemptStart  int64

	inRequest   bool // between head parsed and request done
	headPending bool // a next head's first bytes arrived: counted in flight (a drain waits for it)
	unflushed   bool // a finished request's last bytes still sit in gnet's buffer: counted in flight
	headStart   int64
	keepAlive   bool // the connection stays open after this request
	responded   bool // the whole response is queued to the client
	reqBodyDone bool
	bodyStarted bool // request-body bytes were consumed (no replay possible)

	closed        bool // closing or closed: no new work
	dead          bool // gnet closed the connection: nothing may be written (closing.go)
	closing       bool // waiting for output to drain, then close
	linger        bool // input was dropped: close with a lingering close (lingerClose)
	lingering     bool // FIN sent; input is dropped until the client closes
	watched       bool
	processing    bool
	detached      bool  // off the loop, read by a pump or a tunnel (handoff.go)
	pump          *pump // reading the request body while detached
	tunnelPending bool  // a 101 tunnel waits for output to drain before leaving the loop

	deferredStatus int // an error to answer once a detached client is back
	deferredMsg    string

	iov [2][]byte
}

func (w *worker) openClient(c gnet.Conn) {
	cc := &clientConn{c: c, w: w}
	cc.timer.owner = cc
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			cc.remoteIP = ip.Unmap().AppendTo(make([]byte, 0, 16))
		}
	}
	c.SetContext(cc)
	w.m.AddGauge(w.srv.metrics.clientConns, 1)
	cc.armTimer(ctHeader, cc.snapshot().clientHeaderTimeout)
}

func (cc *clientConn) snapshot() *Snapshot {
	if cc.x != nil && cc.x.snap != nil {
		return cc.x.snap
	}
	return cc.w.srv.snap.Load()
}

// ctx returns the connection's request context, taking one from the
// worker's free list when the connection was idle. Contexts (about 1.2 KiB
// with their buffers) belong to requests, not to connections: 10,000 idle
// keep-alive connections hold none.
func (cc *clientConn) ctx() *Ctx {
	if cc.x == nil {
		cc.x = cc.w.getCtx()
		cc.x.cc = cc
	}
	return cc.x
}

// releaseCtx gives the context back to the worker once the connection is
// idle or closed. The context was reset (its generation moved on, so any
// Resumer still out there finds it stale).
func (cc *clientConn) releaseCtx() {
	if x := cc.x; x != nil {
		cc.x = nil
		x.cc = nil
		cc.w.putCtx(x)
	}
}

func (cc *clientConn) armTimer(kind clientTimer, d int64) {
	cc.timerKind = kind
	cc.w.wheel.arm(&cc.timer, cc.w.now+d)
}

func (cc *clientConn) disarmTimer() {
	cc.timerKind = ctNone
	cc.w.wheel.disarm(&cc.timer)
}

func (cc *clientConn) onTraffic() {
	if cc.lingering {
		_, _ = cc.c.Discard(-1)
		return
	}
	if cc.closed || cc.detached {
		return
	}
	switch cc.read {
	case readHead:
		cc.process()
	case readBody, readDiscard:
		cc.relayRequestBody()
	case readBuffer:
		cc.bufferRequestBody()
	case readTunnel:
		cc.relayTunnel()
	case readHold:
		if cc.c.InboundBuffered() > maxHeldInput {
			if cc.inRequest && !cc.reqBodyDone && !cc.responded {
				cc.holdUpload() // the body of this request, waiting for an upstream
				return
			}
			// Pipelined requests past maxHeldInput: drop the input from
			// here on, finish the request in progress with Connection:
			// close, then close cleanly. The client retries the requests it
			// got no answer to (RFC 9112 §9.3.2).
			cc.keepAlive = false
			cc.linger = true
			cc.read = readNone
			_, _ = cc.c.Discard(-1)
		}
	case readNone:
		_, _ = cc.c.Discard(-1)
	}
}

// process parses and starts every complete request head in the input, one
// at a time: a request must end before the next one starts, which keeps
// pipelined responses in order.
func (cc *clientConn) process() {
	if cc.processing {
		return // the caller up the stack is already looping
	}
	cc.processing = true
	defer cc.endProcessing()
	for !cc.closed && !cc.detached && cc.read == readHead {
		buf, _ := cc.c.Peek(-1)
		if len(buf) == 0 {
			return
		}
		cc.headArrived()
		if cc.timerKind != ctHeader {
			cc.armTimer(ctHeader, cc.snapshot().clientHeaderTimeout)
		}
		x := cc.ctx()
		if x.stage == stageIdle {
			x.to(stageHead)
		}
		if x.req.HeadLen == 0 {
			x.req.Limits = cc.snapshot().headLimits
		}
		n, err := x.req.Parse(buf)
		if err != nil {
			cc.failFraming(http1.StatusOf(err), err.Error())
			return
		}
		if n == 0 {
			return
		}
		x.head = append(x.head[:0], buf[:n]...)
		discard(cc.c, n)
		cc.startRequest()
	}
}

func (cc *clientConn) startRequest() {
	x := cc.x
	w := cc.w
	x.snap = w.srv.snap.Load()
	x.startNanos = cc.headStart
	cc.inRequest = true
	cc.headPending = false // its count in flight is now the request's
	cc.disarmTimer()
	cc.read = readHold
	cc.keepAlive = x.req.KeepAlive && !w.srv.draining.Load()
	switch {
	case x.req.Chunked:
		cc.reqBody.reset(frameChunked, 0)
	case x.req.ContentLength > 0:
		cc.reqBody.reset(frameLength, x.req.ContentLength)
	default:
		cc.reqBody.reset(frameNone, 0)
	}
	cc.reqBodyDone = cc.reqBody.done()

	w.beginOnSnapshot(x.snap)
	w.m.Inc(w.srv.metrics.requests)
	if x.req.Method == http1.MethodCONNECT {
		// No route tunnels: answer here, never forward (the upstream would
		// answer it as an ordinary request). Whatever the client sends
		// next is tunnel data, not HTTP: close after the answer.
		cc.keepAlive = false
		cc.respondErrorFields(405, allowFields, "CONNECT is not supported")
		return
	}
	cc.routeRequest()
}

var allowFields = []byte("Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n")

// headArrived counts a request in flight from the first byte of its head,
// so that a drain answers a request that was arriving when it began.
func (cc *clientConn) headArrived() {
	if !cc.headPending && !cc.inRequest {
		cc.headPending = true
		cc.headStart = cc.w.now
		cc.w.srv.inflight.Add(1)
	}
}

// keepAliveNow says whether the response whose head is being sent keeps
// the connection: not once a drain began, although the request came before.
func (cc *clientConn) keepAliveNow() bool {
	if cc.keepAlive && cc.w.srv.draining.Load() {
		cc.keepAlive = false
	}
	return cc.keepAlive
}

// relayRequestBody moves request-body bytes from the client to the upstream
// (or drops them after a local response).
func (cc *clientConn) relayRequestBody() {
	buf, _ := cc.c.Peek(-1)
	if len(buf) == 0 {
		return
	}
	n, done, err := cc.reqBody.take(buf)
	if err != nil {
		cc.x.failure = "bad chunked request body: " + err.Error()
		if cc.x.status == 0 && !cc.responded {
			cc.keepAlive = false
			cc.dropUpstream()
			cc.respondError(400, "invalid chunked request body")
			return
		}
		cc.closeNow()
		return
	}
	if n > 0 {
		cc.bodyStarted = true
		if cc.read == readBody {
			cc.bodyBytes += int64(n)
			if max := cc.x.route.maxBody; max > 0 && cc.reqBody.kind == frameChunked && cc.bodyBytes > max {
				cc.x.failure = "chunked request body over max_body"
				if cc.x.status == 0 {
					cc.keepAlive = false
					cc.dropUpstream()
					cc.respondError(413, "request body too large")
					return
				}
				cc.closeNow()
				return
			}
			cc.up.write(buf[:n])
			cc.up.armAwait(cc.up.up.sendTimeout)
		}
		discard(cc.c, n)
	}
	if !done {
		cc.armTimer(ctBody, cc.x.snap.clientBodyTimeout)
		if cc.read == readBody && cc.up.c.OutboundBuffered() > highWater {
			cc.pauseUpload()
		}
		return
	}
	cc.reqBodyDone = true
	cc.disarmTimer()
	if cc.read == readDiscard {
		cc.read = readHold
		cc.requestDone()
		return
	}
	cc.read = readHold
	if cc.up != nil {
		cc.up.armRead()
	}
}

func (cc *clientConn) relayTunnel() {
	buf, _ := cc.c.Peek(-1)
	if len(buf) == 0 || cc.up == nil {
		return
	}
	cc.up.write(buf)
	discard(cc.c, len(buf))
}

// finishResponse runs once the whole response is queued to the client.
func (cc *clientConn) finishResponse() {
	cc.responded = true
	if !cc.reqBodyDone {
		if cc.keepAlive && !cc.closing {
			// Read and drop the rest of the body so the connection can carry
			// the next request; the body timeout bounds how long.
			cc.read = readDiscard
			cc.armTimer(ctBody, cc.x.snap.clientBodyTimeout)
			cc.relayRequestBody()
			return
		}
		cc.keepAlive = false
	}
	cc.requestDone()
}

// requestDone ends the request: log, count, and either wait for the next
// request on the connection or close it once output has drained.
func (cc *clientConn) requestDone() {
	x := cc.x
	if !cc.inRequest {
		return
	}
	cc.inRequest = false
	if cc.c.OutboundBuffered() > 0 && !cc.dead && !cc.unflushed {
		// In flight until the last byte leaves gnet's buffer for the
		// socket: a drain must not stop the loops before (onDrained).
		cc.unflushed = true
		cc.w.watch(cc)
	} else {
		cc.w.srv.inflight.Add(-1)
	}
	cc.runLog()
	if !cc.keepAlive || cc.closing {
		x.reset()
		cc.closeAfterFlush()
		return
	}
	x.reset()
	cc.resetRequest()
	cc.read = readHead
	cc.armTimer(ctIdle, cc.snapshot().clientKeepaliveTimeout)
	if cc.c.InboundBuffered() > 0 {
		cc.process()
		return
	}
	cc.releaseCtx()
}

func (cc *clientConn) resetRequest() {
	cc.up = nil
	cc.tried.Reset()
	cc.attempts = 0
	cc.retries = 0
	cc.attemptTarget = nil
	cc.bodyBytes = 0
	cc.responded, cc.reqBodyDone, cc.bodyStarted = false, false, false
}

// dropUpstream closes the current upstream connection, if any: it is in
// the middle of a request and cannot be reused.
func (cc *clientConn) dropUpstream() {
	if uc := cc.up; uc != nil {
		cc.up = nil
		uc.close()
	}
}

// failFraming answers a request whose framing cannot be trusted and closes
// the connection: nothing after it can be parsed safely.
func (cc *clientConn) failFraming(status int, msg string) {
	if x := cc.ctx(); x.stage == stageIdle {
		x.to(stageHead)
	}
	cc.keepAlive = false
	if !cc.inRequest {
		cc.headArrived()
		cc.headPending = false // the count is the request's now
		cc.inRequest = true
		cc.x.startNanos = cc.headStart
	}
	cc.x.failure = msg
	if cc.x.route == nil {
		// The head was not accepted: its spans index gnet's buffer, where
		// it still is. Keep a copy of what was received so that the log
		// shows the method and target that came; forget the spans if it
		// is too long to keep.
		buf, _ := cc.c.Peek(-1)
		if len(buf) <= maxLoggedHead {
			cc.x.head = append(cc.x.head[:0], buf...)
		} else {
			cc.x.req.Reset()
			cc.x.head = cc.x.head[:0]
		}
	}
	cc.reqBodyDone = true
	cc.respondError(status, msg)
}

// closeAfterFlush stops reading and closes the connection once its output
// has been written, or when the send timeout gives up on the peer.
func (cc *clientConn) closeAfterFlush() {
	if cc.closed || cc.detached {
		cc.closeNow()
		return
	}
	if cc.c.OutboundBuffered() == 0 {
		cc.closeFlushed()
		return
	}
	cc.read = readNone
	cc.keepAlive = false
	cc.closing = true
	cc.armTimer(ctFlush, cc.snapshot().clientSendTimeout)
	cc.w.watch(cc)
}

// closeFlushed closes a connection whose output was written: with a
// lingering close when client input was dropped or is unread, else at once.
func (cc *clientConn) closeFlushed() {
	if cc.linger || cc.c.InboundBuffered() > 0 {
		cc.lingerClose()
		return
	}
	cc.closeNow()
}

// lingerClose sends FIN and drops what the client still sends until it
// closes, for up to lingerTimeout. Closing a socket with unread input makes
// the kernel send a reset, and a reset can destroy the response the client
// has not read yet (nginx's lingering_close).
func (cc *clientConn) lingerClose() {
	if fd := cc.c.Fd(); cc.dead || fd < 0 || unix.Shutdown(fd, unix.SHUT_WR) != nil {
		cc.closeNow()
		return
	}
	cc.read = readNone
	cc.closed = true
	cc.closing = false
	cc.lingering = true
	_, _ = cc.c.Discard(-1)
	cc.armTimer(ctLinger, lingerTimeout)
}

// closeNow closes the connection; OnClose follows on this loop.
func (cc *clientConn) closeNow() {
	if cc.closed {
		return
	}
	if cc.detached {
		cc.abortDetached(cc.x.failure)
		return
	}
	cc.read = readNone
	cc.closed = true
	_ = cc.c.Close()
}

// onDrained is called by the tick when output fell below the low-water mark.
func (cc *clientConn) onDrained() {
	if cc.unflushed {
		if cc.c.OutboundBuffered() == 0 {
			cc.settleFlush()
		} else {
			cc.w.watch(cc)
		}
	}
	switch {
	case cc.closing:
		if cc.c.OutboundBuffered() == 0 {
			cc.closeFlushed()
		} else {
			cc.w.watch(cc)
		}
	case cc.tunnelPending && cc.up != nil:
		cc.handoffTunnel(cc.up)
	case cc.up != nil && cc.up.paused:
		cc.up.resumeDownload()
	}
}

// settleFlush ends the in-flight count a finished request kept while its
// last bytes were in gnet's buffer.
func (cc *clientConn) settleFlush() {
	if cc.unflushed {
		cc.unflushed = false
		cc.w.srv.inflight.Add(-1)
	}
}

func (cc *clientConn) onTimer(now int64) {
	kind := cc.timerKind
	cc.timerKind = ctNone
	switch kind {
	case ctIdle:
		cc.closeAfterFlush() // the last response may still be on its way
	case ctLinger:
		_ = cc.c.Close()
	case ctHeader:
		if cc.c.InboundBuffered() == 0 && !cc.inRequest {
			cc.closeNow() // never sent a byte of this request: close quietly, as nginx does
			return
		}
		cc.failFraming(408, "request head not received in time")
	case ctBody:
		cc.x.failure = "request body not received in time"
		if cc.x.status == 0 && !cc.responded {
			cc.keepAlive = false
			cc.dropUpstream()
			cc.reqBodyDone = true
			cc.respondError(408, "request body not received in time")
			return
		}
		cc.dropUpstream()
		cc.closeNow()
	case ctFlush:
		cc.x.failure = "client did not read the response in time"
		cc.closeNow()
	case ctDelay:
		x := cc.x
		x.endSuspension()
		cc.resumeFromSuspension(Continue)
	case ctSuspend:
		x := cc.x
		x.endSuspension()
		x.failure = "policy did not resume the request within client.policy_timeout (in " + x.phase.String() + ")"
		cc.respondError(504, "gateway policy timed out")
	}
}

// onClose runs when gnet closed the connection (peer gone, error, or closeNow).
func (cc *clientConn) onClose(error) {
	if cc.detached {
		return // gnet let go of it; a pump or tunnel has the socket
	}
	cc.closed = true
	cc.read = readNone
	cc.lingering = false
	cc.disarmTimer()
	cc.settleFlush()
	if cc.headPending {
		cc.headPending = false
		cc.w.srv.inflight.Add(-1)
	}
	cc.w.m.AddGauge(cc.w.srv.metrics.clientConns, -1)
	if cc.inRequest {
		if cc.x.failure == "" && !cc.responded {
			cc.x.failure = "client closed the connection"
		}
		cc.dropUpstream()
		if t := cc.attemptTarget; t != nil {
			cc.attemptTarget = nil
			t.Cancel()
		}
		cc.inRequest = false
		cc.w.srv.inflight.Add(-1)
		cc.runLog()
	}
	if cc.x != nil {
		cc.x.reset() // any Resumer still out there finds a different generation
		cc.releaseCtx()
	}
}

func (cc *clientConn) endProcessing() { cc.processing = false }
