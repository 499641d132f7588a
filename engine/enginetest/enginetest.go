// Package enginetest runs a gateway configuration in-process, without
// sockets: raw request bytes in, the response out, the upstream answered by
// an http.Handler. Policies are tested with it in milliseconds; the engine
// keeps its end-to-end socket suites for the connection machinery.
//
// The gateway is the real engine — router, phase runner, policies, local
// answers, retries — driven by a fake event loop on the test's goroutine.
// What it does not model: the timer wheel never ticks (timeouts and
// suspension deadlines do not fire), output is never slow (no hand-off to
// pumps), and every upstream target is answered by the same handler.
//
// A Gateway is not safe for concurrent use: one test goroutine drives it.
package enginetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// Gateway is a configuration compiled and served in-process.
type Gateway struct {
	t        testing.TB
	srv      *engine.Server
	compiler *engine.Compiler
	loop     *loop
	upstream http.Handler
	ups      []*conn // upstream connections the engine opened

	// Timeout bounds one Do (off-loop work such as Offload or
	// sub-requests runs on real goroutines). Default 5s.
	Timeout time.Duration
}

// New compiles yml (a full config; upstream target addresses are never
// dialed, any host:port will do) with the policy factory build
// (policies.Build) and returns a gateway whose upstreams are all answered
// by upstream (nil: 200 with an empty body).
func New(t testing.TB, yml string, build engine.PolicyFactory, upstream http.Handler) *Gateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yml), "enginetest.yaml")
	if err != nil {
		t.Fatalf("enginetest: config: %v", err)
	}
	g := &Gateway{t: t, compiler: engine.NewCompiler(build), upstream: upstream, Timeout: 5 * time.Second}
	if g.upstream == nil {
		g.upstream = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	}
	snap, err := g.compiler.Compile(cfg)
	if err != nil {
		t.Fatalf("enginetest: compile: %v", err)
	}
	g.loop = &loop{g: g, wake: make(chan struct{}, 1)}
	g.srv, err = engine.NewServer(engine.Options{
		Workers: 1,
		Dial: func(context.Context, string) (net.Conn, error) {
			c1, c2 := net.Pipe() // stands for the connection; never read or written
			c2.Close()
			return c1, nil
		},
	}, snap)
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	t.Cleanup(g.compiler.Close)
	return g
}

// Server is the engine server behind the gateway (for Stats, Swap...).
func (g *Gateway) Server() *engine.Server { return g.srv }

// Reload compiles yml and puts it in force.
func (g *Gateway) Reload(yml string) error {
	cfg, err := config.Parse([]byte(yml), "enginetest.yaml")
	if err != nil {
		return err
	}
	snap, err := g.compiler.Compile(cfg)
	if err != nil {
		return err
	}
	g.srv.Swap(snap)
	return nil
}

// Do sends one raw request ("GET / HTTP/1.1\r\nHost: a\r\n\r\n") on a new
// client connection and returns the response, its body read into memory.
func (g *Gateway) Do(raw string) *http.Response {
	g.t.Helper()
	out := g.DoRaw(raw)
	method, _, _ := strings.Cut(raw, " ")
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), &http.Request{Method: method})
	if err != nil {
		g.t.Fatalf("enginetest: response to %q: %v (got %q)", firstLine(raw), err, out)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatalf("enginetest: response body to %q: %v (got %q)", firstLine(raw), err, out)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// DoRaw sends raw bytes (one request, or several pipelined) on a new client
// connection and returns every byte the gateway wrote back once the
// connection is idle or closed.
func (g *Gateway) DoRaw(raw string) []byte {
	g.t.Helper()
	c := g.newConn(false, nil)
	g.loop.run(func() { g.srv.OnOpen(c) })
	c.in = append(c.in, raw...)
	g.loop.run(func() { g.srv.OnTraffic(c) })
	deadline := time.Now().Add(g.Timeout)
	for {
		progress := g.loop.drain()
		progress = g.answerUpstreams() || progress
		if !progress && (c.closed || len(c.in) == 0 && responsesDone(raw, c.out.Bytes())) {
			break
		}
		if !progress {
			if time.Now().After(deadline) {
				g.t.Fatalf("enginetest: no complete response to %q within %v (got %q)", firstLine(raw), g.Timeout, c.out.Bytes())
			}
			select {
			case <-g.loop.wake:
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if !c.closed { // the client leaves, as a test's would
		c.closed = true
		g.loop.run(func() { g.srv.OnClose(c, nil) })
	}
	return c.out.Bytes()
}

// responsesDone says whether out holds a complete response for each
// request in raw.
func responsesDone(raw string, out []byte) bool {
	reqs := bufio.NewReader(strings.NewReader(raw))
	resps := bufio.NewReader(bytes.NewReader(out))
	for {
		req, err := http.ReadRequest(reqs)
		if err != nil {
			return true // every request answered (or the rest does not parse)
		}
		_, _ = io.Copy(io.Discard, req.Body)
		resp, err := http.ReadResponse(resps, req)
		if err != nil {
			return false
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return false
		}
	}
}

// answerUpstreams answers every complete request written to an upstream
// connection with the handler; it reports whether it answered any.
func (g *Gateway) answerUpstreams() bool {
	answered := false
	for _, c := range g.ups {
		for !c.closed && c.out.Len() > 0 {
			n, resp := g.answer(c.out.Bytes())
			if n == 0 {
				break
			}
			c.out.Next(n)
			c.in = append(c.in, resp...)
			g.loop.run(func() { g.srv.OnTraffic(c) })
			answered = true
		}
	}
	return answered
}

// answer parses one complete request at the start of b and returns its
// length and the handler's response bytes, or 0 while it is incomplete.
// A request net/http cannot read fails the test: waiting for more bytes
// would only end in Do's timeout, which says nothing of why.
func (g *Gateway) answer(b []byte) (int, []byte) {
	cr := &countingReader{r: bytes.NewReader(b)}
	br := bufio.NewReader(cr)
	req, err := http.ReadRequest(br)
	if err != nil {
		g.unreadable(err, b)
		return 0, nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		g.unreadable(err, b)
		return 0, nil
	}
	used := cr.n - br.Buffered()
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	g.upstream.ServeHTTP(rec, req)
	resp := rec.Result()
	payload := rec.Body.Bytes()
	resp.ContentLength = int64(len(payload))
	resp.TransferEncoding = nil
	resp.Body = io.NopCloser(bytes.NewReader(payload))
	var out bytes.Buffer
	if err := resp.Write(&out); err != nil {
		g.t.Fatalf("enginetest: upstream response: %v", err)
	}
	return used, out.Bytes()
}

// unreadable fails the test unless err only says the request is not all
// there yet.
func (g *Gateway) unreadable(err error, b []byte) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	g.t.Fatalf("enginetest: the upstream (net/http) cannot read what the gateway sent: %v\n%q", err, b)
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// loop is the fake event loop: work posted from any goroutine runs on the
// test's goroutine, in order.
type loop struct {
	gnet.EventLoop // what the engine does not call panics
	g              *Gateway
	mu             sync.Mutex
	queue          []func()
	wake           chan struct{}
}

func (l *loop) post(fn func()) {
	l.mu.Lock()
	l.queue = append(l.queue, fn)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run posts fn and drains the queue.
func (l *loop) run(fn func()) {
	l.post(fn)
	l.drain()
}

// drain runs the queued work, and the work it queues; it reports whether
// it ran anything.
func (l *loop) drain() bool {
	ran := false
	for {
		l.mu.Lock()
		q := l.queue
		l.queue = nil
		l.mu.Unlock()
		if len(q) == 0 {
			return ran
		}
		for _, fn := range q {
			fn()
		}
		ran = true
	}
}

// Execute implements gnet.EventLoop.
func (l *loop) Execute(_ context.Context, r gnet.Runnable) error {
	l.post(func() { _ = r.Run(context.Background()) })
	return nil
}

// Enroll implements gnet.EventLoop: the engine dialed an upstream.
func (l *loop) Enroll(ctx context.Context, _ net.Conn) (<-chan gnet.RegisteredResult, error) {
	c := l.g.newConn(true, gnet.FromContext(ctx))
	ch := make(chan gnet.RegisteredResult, 1)
	ch <- gnet.RegisteredResult{Conn: c}
	l.post(func() {
		l.g.ups = append(l.g.ups, c)
		l.g.srv.OnOpen(c)
	})
	return ch, nil
}

// conn is a fake gnet.Conn: in holds what the peer sent, out what the
// engine wrote.
type conn struct {
	gnet.Conn // what the engine does not call panics
	g         *Gateway
	ctx       any
	in        []byte
	out       bytes.Buffer
	closed    bool
	upstream  bool
}

var fakeAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func (g *Gateway) newConn(upstream bool, ctx any) *conn {
	return &conn{g: g, ctx: ctx, upstream: upstream}
}

func (c *conn) Peek(n int) ([]byte, error) {
	if n < 0 || n > len(c.in) {
		return c.in, nil
	}
	return c.in[:n], nil
}

func (c *conn) Discard(n int) (int, error) {
	if n < 0 || n > len(c.in) {
		n = len(c.in)
	}
	c.in = c.in[n:]
	return n, nil
}

// Fd is -1: there is no socket (the engine then closes without lingering).
func (c *conn) Fd() int { return -1 }

func (c *conn) InboundBuffered() int  { return len(c.in) }
func (c *conn) OutboundBuffered() int { return 0 }

func (c *conn) Write(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(b)
}

func (c *conn) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		m, err := c.Write(b)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.g.loop.post(func() { c.g.srv.OnClose(c, nil) })
	return nil
}

func (c *conn) Context() any              { return c.ctx }
func (c *conn) SetContext(v any)          { c.ctx = v }
func (c *conn) EventLoop() gnet.EventLoop { return c.g.loop }
func (c *conn) RemoteAddr() net.Addr      { return fakeAddr }
func (c *conn) LocalAddr() net.Addr       { return fakeAddr }

func (c *conn) String() string { return fmt.Sprintf("enginetest conn (upstream %v)", c.upstream) }
