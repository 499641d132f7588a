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
}

// Server runs the gateway's workers. Safe for concurrent use: Swap and
// Shutdown may be called from any goroutine while Serve runs.
type Server struct {
	gnet.BuiltinEventEngine

	opts    Options
	snap    atomic.Pointer[Snapshot]
	eng     gnet.Engine
	offload *offloadPool

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

	sub subClients // sub-requests' HTTP clients (subrequest.go)

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
	if opts.OffloadGoroutines <= 0 {
		opts.OffloadGoroutines = 256 * opts.Workers
	}
	s := &Server{opts: opts, booted: make(chan struct{}), stopTick: make(chan struct{}), fastWake: make(chan struct{}, 1)}
	s.idPrefix = strconv.FormatUint(rand.Uint64()%(36*36*36*36*36*36), 36)
	s.offload = newOffloadPool(opts.OffloadGoroutines)
	s.metrics = newEngineMetrics(opts.Workers)
	s.snap.Store(snap)
	empty := []*worker{}
	s.workers.Store(&empty)
	return s, nil
}

// Snapshot is the config now in force.
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// Swap puts a new config in force. Requests already routed finish on the
// snapshot they started with; new requests see the new one.
func (s *Server) Swap(snap *Snapshot) {
	old := s.snap.Swap(snap)
	s.logf("config version %d in force (was %d)", snap.Version, old.Version)
	if old != snap {
		s.startRetiring(old)
	}
}

// Serve runs the workers until Shutdown; it blocks.
func (s *Server) Serve() error {
	err := gnet.Run(s, "tcp://"+s.opts.Listen,
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.opts.Workers),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTCPKeepAlive(0),
		gnet.WithLogger(gnetLogger{s}),
		gnet.WithLogLevel(logging.ErrorLevel),
		gnet.WithReadBufferCap(64<<10),
		gnet.WithWriteBufferCap(64<<10),
	)
	select {
	case <-s.booted:
	default:
		close(s.booted) // a failed start must not leave Ready waiting
	}
	return err
}

// Ready is closed once the server accepts connections (or failed to start).
func (s *Server) Ready() <-chan struct{} { return s.booted }

// Addr is the listen address as configured.
func (s *Server) Addr() string { return s.opts.Listen }

// Shutdown drains: new connections are refused, idle keep-alive connections
// closed, and in-flight requests finish (their connections then close)
// until none is left or ctx ends; then the workers stop.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for s.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("engine: drain ended with %d requests in flight: %w", s.inflight.Load(), ctx.Err())
			break wait
		case <-tick.C:
		}
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if e := s.eng.Stop(stopCtx); e != nil && err == nil {
		err = e
	}
	return err
}

// InFlight is the number of requests being served now.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// OnBoot starts the tick that drives every worker's timers.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	go s.tickLoop()
	close(s.booted)
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
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	w := s.workerFor(c.EventLoop())
	w.enter()
	defer w.leave()
	w.tickClock()
	switch v := c.Context().(type) {
	case nil:
		if s.draining.Load() {
			return nil, gnet.Close
		}
		w.openClient(c)
	case *upstreamConn:
		w.onUpstreamOpen(v, c)
	case *clientConn:
		v.onReattach(c)
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
