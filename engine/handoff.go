package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Bounding memory with gnet.
//
// gnet cannot stop reading a connection: while its fd is registered, every
// readable event appends up to 64 KiB to the connection's inbound buffer,
// and every Write past what the socket takes grows the outbound buffer. A
// fast peer streaming to a slow one would grow the heap without bound.
//
// So when a relay finds the receiving side above highWater, the sending
// side leaves the event loop: its fd is duplicated, gnet's copy is closed
// (which unregisters it), and a pump goroutine reads the duplicate with
// blocking reads, one credit (at most pumpChunk bytes) at a time. Each chunk
// is handed to the worker through Execute and relayed there exactly as
// before; the worker grants the next credit only once the receiver's output
// is below lowWater again. TCP flow control then pushes back on the fast
// peer, and a stream costs at most highWater + pumpChunk of memory.
//
//   - Download (slow client): the upstream is pumped until the response
//     ends; that upstream connection is then closed instead of pooled.
//   - Upload (slow upstream): the client is pumped until the request body
//     ends, reading no further than a Content-Length body's end, and is then
//     enrolled back on the same loop (Enroll) to receive the response.
//     A chunked body may have been over-read; those bytes are dropped and the
//     connection closes after the response.
//   - Tunnels (after 101) always leave the loop: two goroutines copy with
//     fixed buffers, so backpressure is TCP's.
const pumpChunk = 64 << 10

// drainWaiter is a connection whose relay waits for its output to drain.
type drainWaiter interface {
	outbound() int
	gone() bool
	onDrained()
	setWatched(bool) bool // sets the flag, returns the old value
}

func (cc *clientConn) outbound() int { return cc.c.OutboundBuffered() }
func (cc *clientConn) gone() bool    { return cc.closed || cc.detached }
func (cc *clientConn) setWatched(v bool) bool {
	old := cc.watched
	cc.watched = v
	return old
}
func (uc *upstreamConn) outbound() int { return uc.c.OutboundBuffered() }
func (uc *upstreamConn) gone() bool    { return uc.closed || uc.detached }
func (uc *upstreamConn) setWatched(v bool) bool {
	old := uc.watched
	uc.watched = v
	return old
}

// pump reads a detached connection on a goroutine, one credit at a time.
type pump struct {
	w       *worker
	conn    net.Conn
	credit  chan int
	buf     []byte
	pending []byte // bytes gnet had buffered at detach: delivered before any read
	timeout time.Duration

	// Loop side.
	onData   func(p *pump, data []byte, err error) // runs on the loop
	reattach func(conn net.Conn)                   // runs on the goroutine after finish(true)
	done     bool
	keep     bool
	waiting  bool // the loop owes a credit once the receiver drains
}

// detach duplicates c's socket into a net.Conn and closes gnet's copy, so
// the event loop stops reading it. The caller has marked its side detached,
// so the OnClose that follows is ignored.
func detach(w *worker, c gnet.Conn) (net.Conn, error) {
	fd, err := c.Dup()
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "sluice-detached")
	conn, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return nil, err
	}
	_ = w.loop.Close(c)
	return conn, nil
}

func newPump(w *worker, conn net.Conn, timeout time.Duration) *pump {
	return &pump{w: w, conn: conn, credit: make(chan int, 1), buf: make([]byte, pumpChunk), timeout: timeout}
}

func (p *pump) run() {
	for n := range p.credit {
		var data []byte
		var err error
		if len(p.pending) > 0 {
			m := min(n, len(p.pending))
			data = append(p.buf[:0], p.pending[:m]...)
			p.pending = p.pending[m:]
		} else {
			_ = p.conn.SetReadDeadline(time.Now().Add(p.timeout))
			var m int
			m, err = p.conn.Read(p.buf[:n])
			data = p.buf[:m]
		}
		p.w.execute(func() {
			if !p.done {
				p.onData(p, data, err)
			}
		})
	}
	if p.keep && p.reattach != nil {
		_ = p.conn.SetReadDeadline(time.Time{})
		p.reattach(p.conn)
		return
	}
	_ = p.conn.Close()
}

// grant lets the goroutine read up to n more bytes. On the loop.
func (p *pump) grant(n int) {
	if p.done {
		return
	}
	p.waiting = false
	if n > len(p.buf) || n <= 0 {
		n = len(p.buf)
	}
	p.credit <- n // capacity 1 and at most one credit outstanding: never blocks
}

// finish ends the pump. With keep, the goroutine hands the connection to
// reattach; without, it closes it (and a blocked read is interrupted). On the loop.
func (p *pump) finish(keep bool) {
	if p.done {
		return
	}
	p.done = true
	p.keep = keep
	if !keep {
		_ = p.conn.Close()
	}
	close(p.credit)
}

// --- download: slow client, fast upstream ---

// pauseDownload moves the upstream side of the response off the loop
// because the client is not reading fast enough.
func (uc *upstreamConn) pauseDownload() {
	cc := uc.owner
	if uc.pump != nil || uc.c.OutboundBuffered() > 0 {
		return // request bytes still queued upstream: leave it on the loop
	}
	uc.detached = true
	conn, err := detach(uc.w, uc.c)
	if err != nil {
		uc.detached = false
		return
	}
	uc.w.m.Inc(uc.w.srv.metrics.handoffs)
	uc.w.wheel.disarm(&uc.timer) // the pump's read deadline takes over
	p := newPump(uc.w, conn, durationOf(uc.up.readTimeout))
	p.onData = uc.onPumpData
	uc.pump = p
	uc.paused = true
	p.waiting = true
	go p.run()
	uc.w.watch(cc)
}

// resumeDownload is called when the client drained below lowWater.
func (uc *upstreamConn) resumeDownload() {
	if uc.pump != nil && uc.pump.waiting {
		uc.pump.grant(pumpChunk)
	}
}

func (uc *upstreamConn) onPumpData(p *pump, data []byte, readErr error) {
	cc := uc.owner
	if cc == nil || cc.closed || cc.up != uc {
		p.finish(false)
		return
	}
	n, done, err, trailing := uc.relayBytes(data)
	_ = n
	if err != nil {
		uc.afterRelay(false, err, false)
		return
	}
	if done {
		uc.resp.KeepAlive = false // a detached connection is not pooled
		uc.afterRelay(true, nil, trailing)
		return
	}
	if readErr != nil {
		if errors.Is(readErr, io.EOF) && uc.body.kind == frameUntilClose {
			uc.resp.KeepAlive = false
			cc.responseComplete(uc)
			return
		}
		cc.up = nil
		cc.x.failure = "upstream failed mid-response: " + readErr.Error()
		uc.close()
		cc.closeAfterFlush()
		return
	}
	if cc.c.OutboundBuffered() > highWater {
		p.waiting = true
		uc.w.watch(cc)
		return
	}
	p.grant(pumpChunk)
}

// --- upload: slow upstream, fast client ---

// pauseUpload moves the client side of the request body off the loop
// because the upstream is not reading fast enough.
func (cc *clientConn) pauseUpload() {
	uc := cc.up
	if uc == nil || !cc.detachClient(nil) {
		return
	}
	cc.w.watch(uc)
}

// holdUpload parks a client that sends its body while the request waits
// for an upstream connection (a dial, a suspended policy): gnet would
// buffer all of it. The body stays in the socket until attach grants
// credit; what gnet already buffered is carried over.
func (cc *clientConn) holdUpload() {
	buf, _ := cc.c.Peek(-1)
	pending := append([]byte(nil), buf...)
	if !cc.detachClient(pending) {
		cc.x.failure = "client sent too much while the request waited for an upstream"
		cc.closeNow()
	}
}

// detachClient hands the client's socket to a pump that reads the request
// body on credit; it reports whether it did.
func (cc *clientConn) detachClient(pending []byte) bool {
	if cc.pump != nil || cc.c.OutboundBuffered() > 0 {
		return false // output (an interim response) still queued to the client: stay on the loop
	}
	cc.detached = true
	conn, err := detach(cc.w, cc.c)
	if err != nil {
		cc.detached = false
		return false
	}
	cc.w.m.Inc(cc.w.srv.metrics.handoffs)
	cc.disarmTimer()
	p := newPump(cc.w, conn, durationOf(cc.x.snap.clientBodyTimeout))
	p.pending = pending
	p.onData = cc.onUploadData
	w := cc.w
	p.reattach = func(conn net.Conn) {
		ch, err := w.loop.Enroll(gnet.NewContext(context.Background(), cc), conn)
		if err == nil {
			if res := <-ch; res.Err != nil {
				err = res.Err
			}
		} else {
			_ = conn.Close()
		}
		if err != nil {
			w.execute(func() { cc.abortDetached("could not re-attach the client: " + err.Error()) })
		}
	}
	cc.pump = p
	p.waiting = true
	go p.run()
	return true
}

func (cc *clientConn) uploadCredit() int {
	if cc.reqBody.kind == frameLength && cc.reqBody.left < pumpChunk {
		return int(cc.reqBody.left)
	}
	return pumpChunk
}

// onDrained for an upstream: its output went below lowWater.
func (uc *upstreamConn) onDrained() {
	if cc := uc.owner; cc != nil && cc.pump != nil && cc.pump.waiting {
		cc.pump.grant(cc.uploadCredit())
	}
}

func (cc *clientConn) onUploadData(p *pump, data []byte, readErr error) {
	uc := cc.up
	if uc == nil || uc.closed {
		cc.abortDetached("upstream gone during the upload")
		return
	}
	n, done, err := cc.reqBody.take(data)
	if err != nil {
		cc.abortDetached("bad chunked request body: " + err.Error())
		return
	}
	if n > 0 {
		cc.bodyStarted = true
		cc.bodyBytes += int64(n)
		uc.write(data[:n])
	}
	if max := cc.x.route.maxBody; max > 0 && cc.reqBody.kind == frameChunked && cc.bodyBytes > max {
		cc.abortDetached("chunked request body over max_body")
		return
	}
	if done {
		cc.reqBodyDone = true
		if n < len(data) {
			cc.keepAlive = false // over-read bytes of a next request are lost: close after the response
		}
		uc.armRead()
		p.finish(true) // the goroutine enrolls the client back; onReattach continues
		return
	}
	if readErr != nil {
		cc.abortDetached("client failed mid-body: " + readErr.Error())
		return
	}
	if uc.c.OutboundBuffered() > highWater {
		p.waiting = true
		cc.w.watch(uc)
		return
	}
	p.grant(cc.uploadCredit())
}

// onReattach runs when a client pumped during an upload is back on the loop.
func (cc *clientConn) onReattach(c gnet.Conn) {
	cc.c = c
	cc.dead = false
	cc.detached = false
	cc.pump = nil
	if cc.closed {
		_ = c.Close()
		return
	}
	cc.read = readHold
	if st := cc.deferredStatus; st != 0 {
		cc.deferredStatus = 0
		cc.keepAlive = false // the rest of the body was never read
		cc.respondError(st, cc.deferredMsg)
		return
	}
	if uc := cc.up; uc != nil && uc.c.InboundBuffered() > 0 {
		uc.onTraffic() // the response started while the client was away
	}
}

// deferError keeps an error for a client that is detached while it sends
// its body, and brings it back to the loop to receive it.
func (cc *clientConn) deferError(status int, msg string) {
	if cc.deferredStatus == 0 {
		cc.deferredStatus, cc.deferredMsg = status, msg
	}
	cc.pump.finish(true)
}

// abortDetached ends a request whose client is detached: nothing can be
// written to it any more, so it is closed and the request logged as failed.
func (cc *clientConn) abortDetached(why string) {
	if cc.pump != nil {
		cc.pump.finish(false)
		cc.pump = nil
	}
	if cc.closed {
		return
	}
	cc.x.failure = why
	cc.detached = false
	cc.onClose(nil)
}

// --- tunnels ---

// handoffTunnel moves a 101 tunnel to two copying goroutines once no
// output is queued on either side; until then it relays on the loop.
//
// Bytes either side sent before the hand-off (the client's early data in
// the same write as the Upgrade request, the upstream's after its 101) sit
// in gnet's buffers, which detach drops: they are relayed first.
func (cc *clientConn) handoffTunnel(uc *upstreamConn) {
	if cc.closed || uc.closed || cc.detached {
		return
	}
	if cc.c.InboundBuffered() > 0 {
		cc.relayTunnel()
	}
	if buf, _ := uc.c.Peek(-1); len(buf) > 0 {
		cc.write(buf)
		discard(uc.c, len(buf))
	}
	if cc.c.OutboundBuffered() > 0 || uc.c.OutboundBuffered() > 0 {
		cc.tunnelPending = true
		cc.w.watch(cc)
		return
	}
	cc.tunnelPending = false
	cc.detached, uc.detached = true, true
	cConn, err := detach(cc.w, cc.c)
	if err != nil {
		cc.detached, uc.detached = false, false
		return
	}
	uConn, err := detach(uc.w, uc.c)
	if err != nil {
		_ = cConn.Close()
		cc.x.failure = "tunnel handoff failed: " + err.Error()
		uc.detached = false
		uc.close()
		cc.detached = false
		cc.onClose(nil)
		return
	}
	cc.w.m.Inc(cc.w.srv.metrics.handoffs)
	uc.w.wheel.disarm(&uc.timer)
	uc.closed = true
	idle := durationOf(cc.x.snap.tunnelIdleTimeout)
	w := cc.w
	go func() {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); copyTunnel(uConn, cConn, idle) }()
		go func() { defer wg.Done(); copyTunnel(cConn, uConn, idle) }()
		wg.Wait()
		_ = cConn.Close()
		_ = uConn.Close()
		w.execute(func() {
			cc.up = nil
			cc.detached = false
			cc.onClose(nil)
		})
	}()
}

// copyTunnel copies src to dst until EOF or an error, closing dst's write
// side at the end so the peer sees the half-close; idle bounds each read.
func copyTunnel(dst, src net.Conn, idle time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		_ = src.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		_ = dst.Close()
	}
	if tc, ok := src.(*net.TCPConn); ok {
		_ = tc.CloseRead()
	}
}
