package engine

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Peers: servers that answer pipelined requests in order (Redis), which
// policies call while a request waits, on the worker's own loop. Each
// worker keeps one connection per peer, enrolled on its loop like an
// upstream connection; a call is appended to it and the request suspends;
// the reply resumes the request inside the callback that read it. While
// calls are in flight, new ones wait in the connection's buffer and go out
// together when the replies come back, so under load many calls share one
// write and one read: what a cosocket per request (OpenResty) or a
// goroutine per call cannot do.
//
// The engine knows nothing of the protocol: PeerProtocol frames replies
// and greets new connections. The policy builds the request and reads the
// reply.

// PeerProtocol is the wire protocol of a Peer. Its methods run on every
// worker's loop: they must be safe for concurrent use and must not block.
type PeerProtocol interface {
	// Greeting is what a new connection sends before any call (AUTH,
	// SELECT...), and how many replies it gets; nil and 0 for none.
	Greeting() (msg []byte, replies int)
	// CheckGreeting returns the error one of the greeting's replies
	// carries (credentials refused), or nil.
	CheckGreeting(reply []byte) error
	// ReplyLen is the length of the complete reply at the start of buf, 0
	// when more must come first, or an error when buf is not the
	// protocol's (the connection is then closed).
	ReplyLen(buf []byte) (int, error)
}

// PeerWatcher is what a PeerProtocol implements to hear whether the
// peer answers, per worker connection: up when one got its replies (the
// first time, or after a failure: wasDown), down when one failed (connect
// refused, greeting refused, timeout, broken; the first time, or after
// answering). Called on the worker's loop, on changes only: it must not
// block.
type PeerWatcher interface {
	PeerState(up, wasDown bool)
}

// PeerOptions configure a Peer.
type PeerOptions struct {
	// Name says which peer an error is about ("redis 127.0.0.1:6379").
	Name string
	// Addr is host:port.
	Addr     string
	Protocol PeerProtocol
	// DialTimeout bounds a connect. Default 1s.
	DialTimeout time.Duration
	// CallTimeout bounds a call, from when it is made to its reply. The
	// connection of a call past it is closed (its replies are out of step)
	// and every call on it fails with ErrPeerTimeout. Default 500ms.
	CallTimeout time.Duration
	// MaxPending bounds the calls a worker's connection holds (in flight
	// and waiting to be written); past it a call fails at once with
	// ErrPeerBusy. Default 4096.
	MaxPending int
}

// Errors a PeerReply receives; each comes wrapped with the peer's name and
// why (errors.Is tells them apart).
var (
	// ErrPeerUnavailable: no connection: connecting failed (calls fail at
	// once until the next try, at most 250ms later), the greeting was
	// refused, or the connection broke.
	ErrPeerUnavailable = errors.New("engine: peer unavailable")
	// ErrPeerTimeout: no reply within CallTimeout.
	ErrPeerTimeout = errors.New("engine: peer timed out")
	// ErrPeerBusy: MaxPending calls are waiting on the worker's connection.
	ErrPeerBusy = errors.New("engine: too many calls waiting for the peer")
	// ErrPeerClosed: the Peer was closed (its config was replaced).
	ErrPeerClosed = errors.New("engine: peer closed")
)

// PeerOrphan receives the reply to a call whose request no longer waits
// for it (the client went away, its deadline passed), or why there is
// none: what the call did on the peer may need undoing. send queues a
// call on the same connection whose reply is dropped (as SendPeer). It
// runs on the worker; the reply is valid only during the call.
type PeerOrphan func(reply []byte, err error, send func(req []byte))

// PeerReply continues a request with the reply to its call (valid only
// during the call: copy what must outlive it) or why there is none; its
// status is that of the handler that called. It runs on the worker.
type PeerReply func(x *Ctx, reply []byte, err error) Status

// Peer is a pipelined request/reply server the workers call on their own
// loops. Safe for concurrent use.
type Peer struct {
	opts   PeerOptions
	id     int // the slot of its connection in every worker's peers
	closed atomic.Bool

	mu    sync.Mutex
	conns []*peerConn // every worker's, for Close
}

// Reconnect backoff after a failed connect, a refused greeting or a
// timeout: calls fail at once until the next try. Capped low so that a
// server coming back is used again within a quarter of a second.
const (
	minPeerBackoff = int64(50 * time.Millisecond)
	maxPeerBackoff = int64(250 * time.Millisecond)
)

var peerIDs atomic.Int64

// NewPeer returns a peer; workers connect to it on their first call.
func NewPeer(o PeerOptions) *Peer {
	if o.DialTimeout <= 0 {
		o.DialTimeout = time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 500 * time.Millisecond
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 4096
	}
	if o.Name == "" {
		o.Name = o.Addr
	}
	return &Peer{opts: o, id: int(peerIDs.Add(1) - 1)}
}

// Close closes every worker's connection to the peer, each on its loop:
// the calls in flight fail with ErrPeerClosed, and so do later ones.
func (p *Peer) Close() {
	if p.closed.Swap(true) {
		return
	}
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, pc := range conns {
		_ = pc.w.execute(pc.shutdown) // a stopped engine closed it already
	}
}

// CallPeer sends req to p and suspends the request; done continues it
// with the reply. req is copied (or dropped) before done can run, so it
// may live in the scratch buffer. When the call cannot be made (p down or
// busy), done runs at once, before CallPeer returns, with the error. The
// handler returns CallPeer's status.
func (x *Ctx) CallPeer(p *Peer, req []byte, done PeerReply) Status {
	return x.CallPeerOr(p, req, done, nil)
}

// CallPeerOr is CallPeer for a call whose effect must be undone when its
// request goes away before the reply (a slot taken): orphan, when not
// nil, gets the reply then.
func (x *Ctx) CallPeerOr(p *Peer, req []byte, done PeerReply, orphan PeerOrphan) Status {
	pc := x.cc.w.peerConn(p)
	if err := pc.admit(); err != nil {
		return done(x, nil, err)
	}
	pc.queue(peerCall{r: x.Suspend(), done: done, orphan: orphan}, req)
	return Suspend
}

// SendPeer sends req to p without waiting: the reply is read and dropped
// (a slot given back). The error says why req could not be sent (p down,
// busy or closed); a failure after it is sent goes unreported.
func (x *Ctx) SendPeer(p *Peer, req []byte) error {
	pc := x.cc.w.peerConn(p)
	if err := pc.admit(); err != nil {
		return err
	}
	pc.queue(peerCall{}, req)
	return nil
}

// queue adds call, whose request is req, to the connection: written now
// when nothing is awaited, else after the replies due.
func (pc *peerConn) queue(call peerCall, req []byte) {
	w := pc.w
	call.deadline = w.now + int64(pc.p.opts.CallTimeout)
	pc.calls = append(pc.calls, call)
	pc.out = append(pc.out, req...)
	if !pc.timer.linked() {
		w.wheel.arm(&pc.timer, pc.calls[pc.head].deadline)
	}
	switch {
	case pc.state == pcDown:
		pc.dial()
	case pc.state == pcOpen && pc.sent == 0 && !pc.delivering:
		pc.flush()
	}
}

// peerState is where a worker's connection to a peer is.
type peerState uint8

const (
	pcDown    peerState = iota // no connection: the next call dials (after retryAt)
	pcDialing                  // connecting; calls wait in out
	pcOpen                     // connected (the greeting may still be due)
)

// peerCall is a call waiting for its reply; done nil: a SendPeer.
type peerCall struct {
	r        Resumer
	done     PeerReply
	orphan   PeerOrphan
	deadline int64
}

// peerConn is a worker's connection to a peer, and its calls.
type peerConn struct {
	w     *worker
	p     *Peer
	c     gnet.Conn
	timer timerNode // the oldest call's deadline
	state peerState

	calls      []peerCall // in order: the sent ones first, from head
	head       int
	sent       int    // calls written, awaiting replies (from head)
	out        []byte // the requests of the calls not written yet
	greetLeft  int    // greeting replies still due
	delivering bool   // replies are being delivered: calls wait for the flush after

	dials   uint64 // dials started: a late result of an older one is ignored
	retryAt int64  // pcDown: calls fail at once with downErr until then
	backoff int64
	downErr error
	shut    bool // the Peer was closed
	health  int8 // what the PeerWatcher last heard: 0 nothing, 1 up, -1 down

	send func(req []byte) // sendOrphaned, for PeerOrphans (made once)
}

// peerDial is the context of a connection being enrolled: which dial of
// which peerConn it is. OnOpen replaces it with the peerConn.
type peerDial struct {
	pc  *peerConn
	seq uint64
}

// peerConn returns the worker's connection to p, made on first use.
func (w *worker) peerConn(p *Peer) *peerConn {
	if p.id < len(w.peers) {
		if pc := w.peers[p.id]; pc != nil {
			return pc
		}
	} else {
		w.peers = append(w.peers, make([]*peerConn, p.id+1-len(w.peers))...)
	}
	pc := &peerConn{w: w, p: p}
	pc.timer.owner = pc
	pc.send = pc.sendOrphaned
	p.mu.Lock()
	if p.closed.Load() {
		pc.shut = true
	} else {
		p.conns = append(p.conns, pc)
	}
	p.mu.Unlock()
	w.peers[p.id] = pc
	return pc
}

// admit says why a call cannot be made now, or nil.
func (pc *peerConn) admit() error {
	switch {
	case pc.shut:
		return errPeerClosedCall
	case len(pc.calls)-pc.head >= pc.p.opts.MaxPending:
		return pc.p.errorf(ErrPeerBusy, "%d calls waiting", pc.p.opts.MaxPending)
	case pc.state == pcDown && pc.w.now < pc.retryAt:
		return pc.downErr
	}
	return nil
}

var errPeerClosedCall = fmt.Errorf("%w: its configuration was replaced", ErrPeerClosed)

func (p *Peer) errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", kind, p.opts.Name, fmt.Sprintf(format, args...))
}

// dial opens the connection off the loop and enrolls it on the worker's:
// onOpen or onDialFailed follows on the loop.
func (pc *peerConn) dial() {
	pc.state = pcDialing
	pc.dials++
	d := &peerDial{pc: pc, seq: pc.dials}
	pc.w.dialOntoLoop(pc.p.opts.Addr, int64(pc.p.opts.DialTimeout), d, func(err error) { pc.onDialFailed(d.seq, err) })
}

func (pc *peerConn) onDialFailed(seq uint64, err error) {
	if pc.state != pcDialing || seq != pc.dials {
		return // a newer dial runs, or the calls timed out meanwhile
	}
	pc.down(pc.p.errorf(ErrPeerUnavailable, "connect: %v", err), true)
}

// onOpen is OnOpen for dial seq: the greeting and the waiting calls go
// out together.
func (pc *peerConn) onOpen(c gnet.Conn, seq uint64) {
	c.SetContext(pc)
	if pc.shut || pc.state != pcDialing || seq != pc.dials {
		_ = c.Close() // OnClose finds pc.c is another connection (or none)
		return
	}
	pc.c, pc.state = c, pcOpen
	greeting, replies, err := pc.greeting()
	if err != nil {
		pc.down(err, true)
		return
	}
	pc.greetLeft = replies
	if len(greeting) > 0 {
		// Ahead of the calls already in out, in one write.
		pc.out = append(pc.out, greeting...)
		copy(pc.out[len(greeting):], pc.out[:len(pc.out)-len(greeting)])
		copy(pc.out, greeting)
	}
	if len(pc.out) > 0 {
		pc.flush()
	}
}

// flush writes the waiting calls.
func (pc *peerConn) flush() {
	pc.sent = len(pc.calls) - pc.head
	_, err := pc.c.Write(pc.out)
	pc.out = pc.out[:0]
	if err != nil {
		pc.down(pc.p.errorf(ErrPeerUnavailable, "write: %v", err), false)
	}
}

func (pc *peerConn) onTraffic() {
	if pc.c == nil || pc.state != pcOpen {
		return
	}
	buf, _ := pc.c.Peek(-1)
	used := 0
	// The replies are read where they lie in the connection's buffer, so
	// nothing may write to or close the connection until they are
	// consumed: calls made meanwhile wait for the flush below.
	pc.delivering = true
	var fault error
	for used < len(buf) {
		n, err := pc.replyLen(buf[used:])
		if err != nil {
			fault = pc.p.errorf(ErrPeerUnavailable, "bad reply: %v", err)
			break
		}
		if n == 0 {
			break
		}
		reply := buf[used : used+n]
		used += n
		if pc.greetLeft > 0 {
			pc.greetLeft--
			if err := pc.checkGreeting(reply); err != nil {
				fault = fmt.Errorf("%w: %s: %w", ErrPeerUnavailable, pc.p.opts.Name, err)
				break
			}
			continue
		}
		if pc.sent == 0 {
			fault = pc.p.errorf(ErrPeerUnavailable, "a reply to no call")
			break
		}
		call := pc.pop()
		pc.resume(call, reply, nil)
	}
	pc.delivering = false
	if fault != nil {
		pc.down(fault, true)
		return
	}
	discard(pc.c, used)
	if pc.sent == 0 && pc.greetLeft == 0 {
		pc.backoff = 0 // answered: the server is well
		pc.tell(true)
	}
	pc.rearm()
	if pc.sent == 0 && len(pc.out) > 0 && pc.state == pcOpen {
		pc.flush()
	}
}

// pop takes the oldest call, which was sent.
func (pc *peerConn) pop() peerCall {
	call := pc.calls[pc.head]
	pc.calls[pc.head] = peerCall{}
	pc.head++
	pc.sent--
	if pc.head == len(pc.calls) {
		pc.calls, pc.head = pc.calls[:0], 0
	} else if pc.head >= 1024 && pc.head*2 >= len(pc.calls) {
		n := copy(pc.calls, pc.calls[pc.head:])
		clear(pc.calls[n:])
		pc.calls, pc.head = pc.calls[:n], 0
	}
	return call
}

// rearm points the timer at the oldest call's deadline.
func (pc *peerConn) rearm() {
	if pc.head == len(pc.calls) {
		pc.w.wheel.disarm(&pc.timer)
		return
	}
	if d := pc.calls[pc.head].deadline; !pc.timer.linked() || pc.timer.when != d {
		pc.w.wheel.arm(&pc.timer, d)
	}
}

// onTimer: the oldest call is past its deadline. Its reply, if it comes,
// would be out of step with the calls after it: the connection goes.
func (pc *peerConn) onTimer(now int64) {
	if pc.head == len(pc.calls) {
		return
	}
	if pc.calls[pc.head].deadline > now {
		pc.rearm()
		return
	}
	pc.down(pc.p.errorf(ErrPeerTimeout, "no reply within %v", pc.p.opts.CallTimeout), true)
}

// down closes the connection and fails every call with err; with backoff,
// calls fail at once with err until the next try.
func (pc *peerConn) down(err error, backoff bool) {
	if pc.c != nil {
		c := pc.c
		pc.c = nil
		_ = c.Close()
	}
	if pc.state != pcDialing || backoff {
		// A dial in flight (a timeout while connecting) finishes and is
		// closed by onOpen, since the state is no longer pcDialing.
		pc.state = pcDown
	}
	pc.greetLeft = 0
	pc.out = pc.out[:0]
	if !pc.shut {
		pc.tell(false)
	}
	if backoff {
		pc.backoff = min(max(2*pc.backoff, minPeerBackoff), maxPeerBackoff)
		pc.retryAt = pc.w.now + pc.backoff
		pc.downErr = err
	} else {
		pc.retryAt = 0
	}
	pc.failAll(err)
}

// failAll fails every call with err; calls made by the continuations wait
// for the next connection.
func (pc *peerConn) failAll(err error) {
	pc.w.wheel.disarm(&pc.timer)
	calls := pc.calls[pc.head:]
	pc.calls, pc.head, pc.sent = nil, 0, 0
	for i := range calls {
		pc.resume(calls[i], nil, err)
		calls[i] = peerCall{}
	}
	if pc.calls == nil {
		pc.calls = calls[:0]
	}
}

// tell passes a change of the connection's health to the protocol's
// PeerWatcher, if it has one.
func (pc *peerConn) tell(up bool) {
	st := int8(-1)
	if up {
		st = 1
	}
	if pc.health == st {
		return
	}
	wasDown := pc.health < 0
	pc.health = st
	if pw, ok := pc.p.opts.Protocol.(PeerWatcher); ok {
		pc.peerState(pw, up, wasDown)
	}
}

// shutdown is Close on the worker's loop; the worker forgets the
// connection (a later call on the closed Peer gets a new one, shut).
func (pc *peerConn) shutdown() {
	pc.shut = true
	pc.down(errPeerClosedCall, false)
	pc.out, pc.calls = nil, nil
	if w := pc.w; pc.p.id < len(w.peers) && w.peers[pc.p.id] == pc {
		w.peers[pc.p.id] = nil
	}
}

// handleClose is OnClose for pc.c: the server closed the connection, or
// it broke.
func (pc *peerConn) handleClose() {
	if pc.c == nil {
		return
	}
	pc.c = nil
	pc.down(pc.p.errorf(ErrPeerUnavailable, "the connection closed"), pc.greetLeft > 0)
}

// sendOrphaned is SendPeer for a PeerOrphan, which has no request: a
// call that cannot be sent is dropped.
func (pc *peerConn) sendOrphaned(req []byte) {
	if pc.admit() == nil {
		pc.queue(peerCall{}, req)
	}
}

// resume continues the request of call with its reply, unless the request
// went away or stopped waiting (its deadline passed): then the call's
// orphan, if any, has the reply.
func (pc *peerConn) resume(call peerCall, reply []byte, err error) {
	if call.done == nil {
		return // a SendPeer: the reply is dropped
	}
	x, ok := call.r.wake()
	if !ok {
		if call.orphan != nil {
			pc.orphaned(call.orphan, reply, err)
		}
		return
	}
	cc, gen := x.cc, x.gen
	s := x.callReply(call.done, reply, err)
	if cc.x != x || x.gen != gen {
		return // done answered and the request ended
	}
	cc.runPhases(s)
}
