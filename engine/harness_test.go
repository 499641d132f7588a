package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/internal/freeport"
	"github.com/sluice-gw/sluice/policies"
)

// gateway is a Sluice server under test, on a loopback port of its own.
type gateway struct {
	addr     string
	srv      *engine.Server
	compiler *engine.Compiler
}

// startGateway runs a gateway with the YAML config yml, in which "{listen}"
// is replaced by its address. It stops when the test ends.
func startGateway(t testing.TB, yml string) *gateway {
	t.Helper()
	return startGatewayAt(t, freeport.Addr(t), yml, nil)
}

// startGatewayAt is startGateway on a given address; edit, when not nil,
// changes the server's options before it starts.
func startGatewayAt(t testing.TB, addr, yml string, edit func(*engine.Options)) *gateway {
	t.Helper()
	yml = strings.ReplaceAll(yml, "{listen}", addr)
	cfg, err := config.Parse([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g := &gateway{addr: addr, compiler: engine.NewCompiler(policies.Build)}
	snap, err := g.compiler.Compile(cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	opts := engine.Options{
		Listen:  addr,
		Workers: cfg.Workers,
		AccessLog: func(x *engine.Ctx) {
			if f := x.Failure(); f != "" {
				t.Logf("gateway: %s %s -> %d: %s", x.MethodName(), x.Path(), x.ResponseStatus(), f)
			}
		},
		Logf:           t.Logf,
		DrainIdleGrace: -1, // tests' idle pooled connections need no grace
	}
	if edit != nil {
		edit(&opts)
	}
	g.srv, err = engine.NewServer(opts, snap)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.srv.Serve() }()
	select {
	case <-g.srv.Ready():
	case err := <-served:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start")
	}
	// The listener is up when Ready fires; make sure it accepts.
	waitDial(t, addr)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.srv.Shutdown(ctx)
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
		g.compiler.Close()
	})
	return g
}

func (g *gateway) reload(t testing.TB, yml string) {
	t.Helper()
	yml = strings.ReplaceAll(yml, "{listen}", g.addr)
	cfg, err := config.Parse([]byte(yml), "reload.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	snap, err := g.compiler.Compile(cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	g.srv.Swap(snap)
}

func waitDial(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// upstreamServer is a net/http upstream that counts its connections.
type upstreamServer struct {
	addr     string
	conns    atomic.Int64
	requests atomic.Int64
	srv      *http.Server
}

func startUpstream(t testing.TB, h http.HandlerFunc, configure ...func(*http.Server)) *upstreamServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstreamServer{addr: l.Addr().String()}
	u.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.requests.Add(1)
			h(w, r)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				u.conns.Add(1)
			}
		},
	}
	for _, f := range configure {
		f(u.srv)
	}
	go u.srv.Serve(l)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

// rawUpstream accepts connections and hands each to handle on its own goroutine.
func rawUpstream(t testing.TB, handle func(net.Conn)) (addr string, conns *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); handle(c) }()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), conns
}

// rawClient is a client connection that writes bytes as given and reads
// responses with net/http's parser.
type rawClient struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// response reads one response to a request with the given method.
func (rc *rawClient) response(method string) (*http.Response, string) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		rc.t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// expectClosed asserts that the gateway closes the connection (EOF or reset)
// within the deadline, after any bytes still in flight.
func (rc *rawClient) expectClosed(within time.Duration) {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, rc.br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		rc.t.Fatalf("connection still open after %v", within)
	}
}

func upstreamYAML(listen string, extra string, targets ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nworkers: 1\nupstreams:\n  - name: up\n    targets:\n", listen)
	for _, a := range targets {
		fmt.Fprintf(&b, "      - addr: %s\n", a)
	}
	b.WriteString(extra)
	return b.String()
}

// loadGen keeps `clients` keep-alive clients sending GETs to url until
// stop, counting every request that errors, is not a 200, or fails the
// check given to startLoadChecked.
type loadGen struct {
	stopCh   chan struct{}
	wg       sync.WaitGroup
	done     atomic.Int64
	failed   atomic.Int64
	firstErr atomic.Value
}

func startLoad(url string, clients int) *loadGen { return startLoadChecked(url, clients, nil) }

// startLoadChecked is startLoad with check, when not nil, run on every 200.
func startLoadChecked(url string, clients int, check func(*http.Response) error) *loadGen {
	l := &loadGen{stopCh: make(chan struct{})}
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				resp, err := client.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode != 200:
						err = fmt.Errorf("status %d", resp.StatusCode)
					case check != nil:
						err = check(resp)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
				l.done.Add(1)
			}
		}()
	}
	return l
}

// stop ends the load and returns how many requests were made and failed.
func (l *loadGen) stop() (done, failed int64, firstErr any) {
	close(l.stopCh)
	l.wg.Wait()
	return l.done.Load(), l.failed.Load(), l.firstErr.Load()
}
