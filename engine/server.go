package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// Options configure a Server. Zero values take the defaults in brackets.
type Options struct {
	// Listen is the address to serve, "host:port" [":8080"].
	Listen string
	// Workers is the number of event loops [GOMAXPROCS].
	Workers int
	// OffloadGoroutines bounds the goroutines policies may use for I/O [256 per worker].
	OffloadGoroutines int
	// Logf receives operational messages (config swaps, drains); nil = silent.
	Logf func(format string, args ...any)
	// AccessLog, when set, receives one record per finished request, on the
	// worker's loop: it must not block.
	AccessLog func(*Ctx)
	// Dial opens upstream connections, off the loops [net.Dialer with the
	// upstream's connect timeout]. Tests and in-process harnesses
	// (enginetest) replace it.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// DrainIdleGrace is how long a drain keeps idle keep-alive connections
	// open, so that a client about to reuse one gets one more response
	// (with Connection: close) instead of a connection closed under its
	// request; busy clients all get theirs within it [300ms; negative: none].
	DrainIdleGrace time.Duration
	// Listener, when set, is served instead of binding Listen: a listening
	// socket inherited from the process this one replaces (cmd/sluice's
	// upgrade). The server closes it when it stops accepting [nil].
	Listener net.Listener
}

// Server runs the gateway's workers. Safe for concurrent use: Swap and
// Shutdown may be called from any goroutine while Serve runs.
type Server struct {
	gnet.BuiltinEventEngine

	opts    Options
	snap    atomic.Pointer[Snapshot]
	offload *offloadPool

	// The listener is the engine's, not gnet's (listen.go): gnet cannot stop
	// accepting while its connections go on, nor serve an inherited socket.
	lnMu         sync.Mutex
	ln           net.Listener
	lnClosed     bool
	accepters    sync.WaitGroup
	loops        *gnet.Client // the event loops, without a listener of their own
	loopsStopped bool
	stopOnce     sync.Once
	stopped      chan struct{} // closed when the loops have stopped

	workersMu sync.Mutex
	workers   atomic.Pointer[[]*worker]
	nextID    int

	idPrefix string // random per process: request ids differ across restarts and nodes

	booted   chan struct{}
	stopTick chan struct{}
	fastWake chan struct{} // a worker started waiting for output to drain
	draining atomic.Bool
	inflight atomic.Int64 // requests between head parsed and finish
	ctxMade  atomic.Int64 // request contexts ever allocated (tests pin their reuse)

	badTransitions atomic.Int64 // stage moves the exchange table refuses (engine bugs)

	sub subClients // sub-requests' connection pools (subclient.go)

	metrics *engineMetrics
}

// NewServer returns a server that will serve snap once Serve is called.
func NewServer(opts Options, snap *Snapshot) (*Server, error) {
	if snap == nil {
		return nil, errors.New("engine: nil snapshot")
	}
	if opts.Listen == "" {
		opts.Listen = ":8080"
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.DrainIdleGrace == 0 {
		opts.DrainIdleGrace = 300 * time.Millisecond
	}
	if opts.OffloadGoroutines <= 0 {
		opts.OffloadGoroutines = 256 * opts.Workers
	}
	s := &Server{opts: opts, booted: make(chan struct{}), stopTick: make(chan struct{}), fastWake: make(chan struct{}, 1), stopped: make(chan struct{})}
	s.idPrefix = strconv.FormatUint(rand.Uint64()%(36*36*36*36*36*36), 36)
	s.offload = newOffloadPool(opts.OffloadGoroutines, s.logf)
	s.metrics = newEngineMetrics(opts.Workers)
	s.snap.Store(snap)
	empty := []*worker{}
	s.workers.Store(&empty)
	return s, nil
}

// Snapshot is the config now in force.
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// Swap puts a new config in force. Requests already routed finish on the
// snapshot they started with; new requests see the new one. It logs
// nothing: its caller (package live) logs the change with who made it and
// both versions, and a second line per change was a write to the log of
// its own at every Admin API change.
func (s *Server) Swap(snap *Snapshot) {
	old := s.snap.Swap(snap)
	if old != snap {
		s.startRetiring(old)
	}
}

// Serve binds the listener (unless Listen did, or Options.Listener gave
// one), starts the workers and accepts connections until Shutdown; it
// blocks until the workers have stopped.
func (s *Server) Serve() error {
	err := s.Listen()
	if err == nil {
		err = s.startLoops()
	}
	if err != nil {
		s.readyOnce()
		return err
	}
	s.startAccepting()
	s.readyOnce() // after the accept goroutines run: Ready means accepting
	<-s.stopped
	return nil
}

// startLoops starts gnet's event loops as a "client" engine: loops without
// a listener, which accepted connections join through Enroll (listen.go).
func (s *Server) startLoops() error {
	cli, err := gnet.NewClient(s,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.opts.Workers),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTCPKeepAlive(0),
		gnet.WithLogger(gnetLogger{s}),
		gnet.WithLogLevel(logging.ErrorLevel),
		gnet.WithReadBufferCap(64<<10),
		gnet.WithWriteBufferCap(64<<10),
	)
	if err != nil {
		return err
	}
	if err := cli.Start(); err != nil {
		return err
	}
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.loopsStopped {
		_ = cli.Stop()
		return errors.New("engine: shut down before it started")
	}
	s.loops = cli
	return nil
}

func (s *Server) readyOnce() {
	select {
	case <-s.booted:
	default:
		close(s.booted)
	}
}

// Ready is closed once the server accepts connections (or failed to start).
func (s *Server) Ready() <-chan struct{} { return s.booted }

// Addr is the address the server listens on: the bound one once Listen
// succeeded (a ":0" port resolved), else the configured one.
func (s *Server) Addr() string {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.opts.Listen
}

// Shutdown drains: the server stops accepting (connections not accepted
// yet stay in the kernel's queue for a process that shares the socket, or
// are refused), every response from now on says Connection: close, and
// requests in flight — from the first byte of their head until the last
// byte of their response has left gnet's buffer for the socket — finish
// until none is left or ctx ends; then, once idle keep-alive connections
// had DrainIdleGrace to carry one more request, the workers stop and close
// what remains. Safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.StopAccepting()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		if s.inflight.Load() == 0 && (time.Since(start) >= s.opts.DrainIdleGrace || s.Stats().ClientConns == 0) {
			break
		}
		select {
		case <-ctx.Done():
			if n := s.inflight.Load(); n > 0 {
				err = fmt.Errorf("engine: drain ended with %d requests in flight: %w", n, ctx.Err())
			}
			break wait
		case <-tick.C:
		}
	}
	s.stopLoops()
	return err
}

// stopLoops stops the event loops once; gnet closes the connections left.
func (s *Server) stopLoops() {
	s.stopOnce.Do(func() {
		s.lnMu.Lock()
		loops := s.loops
		s.loopsStopped = true
		s.lnMu.Unlock()
		if loops != nil {
			_ = loops.Stop()
		}
		close(s.stopped)
	})
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// InFlight is the number of requests being served now.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// OnBoot starts the tick that drives every worker's timers.
func (s *Server) OnBoot(gnet.Engine) gnet.Action {
	go s.tickLoop()
	return gnet.None
}

// OnShutdown stops the tick.
func (s *Server) OnShutdown(gnet.Engine) {
	close(s.stopTick)
}

// Ticks drive every worker's timers and the checks for drained output
// buffers. A tick reaches a worker through Execute (which allocates inside
// gnet) and wakes its loop, so the tick goroutine sleeps slowTick between
// ticks, and fastTick only while some worker waits for output to drain
// (watch wakes it at once). Timeouts therefore fire up to slowTick late.
const (
	fastTick = 10 * time.Millisecond
	slowTick = 100 * time.Millisecond
)

func (s *Server) tickLoop() {
	t := time.NewTimer(slowTick)
	defer t.Stop()
	lastSlow := time.Now()
	for {
		select {
		case <-s.stopTick:
			return
		case <-t.C:
		case <-s.fastWake:
		}
		now := time.Now()
		slow := now.Sub(lastSlow) >= slowTick
		if slow {
			lastSlow = now
		}
		fast := false
		for _, w := range *s.workers.Load() {
			want := w.wantFastTick.Load()
			fast = fast || want
			if !slow && !want {
				continue
			}
			if err := w.loop.Execute(context.Background(), w.tickRunnable); err != nil {
				return // engine shutting down
			}
		}
		next := slowTick - now.Sub(lastSlow)
		if fast && next > fastTick {
			next = fastTick
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// workerFor finds the worker of an event loop, creating it on first sight.
// Called on the loop for every new connection: the read path is a scan of a
// few pointers, no lock.
func (s *Server) workerFor(loop gnet.EventLoop) *worker {
	for _, w := range *s.workers.Load() {
		if w.loop == loop {
			return w
		}
	}
	s.workersMu.Lock()
	defer s.workersMu.Unlock()
	cur := *s.workers.Load()
	for _, w := range cur {
		if w.loop == loop {
			return w
		}
	}
	w := newWorker(s, s.nextID, loop)
	s.nextID++
	next := make([]*worker, len(cur)+1)
	copy(next, cur)
	next[len(cur)] = w
	s.workers.Store(&next)
	return w
}

// OnOpen classifies a new connection: accepted clients have no context;
// upstream connections and re-attached clients carry theirs from Enroll.
// A client accepted during a drain is served (its response says
// Connection: close): the listener is closed first, so nothing is accepted
// only to be closed.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	w := s.workerFor(c.EventLoop())
	w.enter()
	defer w.leave()
	w.tickClock()
	switch v := c.Context().(type) {
	case nil:
		w.openClient(c)
	case *upstreamConn:
		w.onUpstreamOpen(v, c)
	case *clientConn:
		v.onReattach(c)
	case *loopSub:
		v.onOpen(c)
	case *peerDial:
		v.pc.onOpen(c, v.seq)
	}
	return nil, gnet.None
}

// OnTraffic dispatches readable data to the client or upstream side.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	switch v := c.Context().(type) {
	case *clientConn:
		w := v.w
		w.enter()
		w.tickClock()
		v.onTraffic()
		w.leave()
	case *upstreamConn:
		w := v.w
		w.enter()
		w.tickClock()
		v.onTraffic()
		w.leave()
	case *loopSub:
		w := v.w
		w.enter()
		w.tickClock()
		v.onTraffic()
		w.leave()
	case *peerConn:
		if v.c == c {
			w := v.w
			w.enter()
			w.tickClock()
			v.onTraffic()
			w.leave()
		}
	}
	return gnet.None
}

// OnClose tells the owner of a connection that it is gone.
func (s *Server) OnClose(c gnet.Conn, err error) gnet.Action {
	switch v := c.Context().(type) {
	case *clientConn:
		if v.c == c {
			v.dead = true
			v.w.enter()
			v.w.onGone(v)
			v.w.leave()
		}
	case *upstreamConn:
		if v.c == c {
			v.dead = true
			v.w.enter()
			v.w.onGone(v)
			v.w.leave()
		}
	case *loopSub:
		if v.c == c {
			v.w.enter()
			v.w.onGone(v)
			v.w.leave()
		}
	case *peerConn:
		if v.c == c {
			v.w.enter()
			v.w.onGone(v)
			v.w.leave()
		}
	}
	return gnet.None
}

// gnetLogger passes gnet's warnings and errors to Options.Logf and drops
// its chatter.
type gnetLogger struct{ s *Server }

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (l gnetLogger) Warnf(format string, args ...any) {
	l.s.logf("gnet: "+format, args...)
}
func (l gnetLogger) Errorf(format string, args ...any) {
	l.s.logf("gnet: "+format, args...)
}
func (l gnetLogger) Fatalf(format string, args ...any) {
	l.s.logf("gnet: fatal: "+format, args...)
}
