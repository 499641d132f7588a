package policies_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/internal/freeport"
	"github.com/sluice-gw/sluice/policies"
)

// A small end-to-end harness: a real gateway on a loopback port, a net/http
// or raw upstream, a raw client. It follows engine/harness_test.go, which a
// test of another package cannot import.

// gateway is a Sluice server under test.
type gateway struct {
	addr string
	srv  *engine.Server
	logs chan loggedID // the request id of each logged request
}

// loggedID is a request id as the log saw it, copied without allocating
// (the allocation tests count every malloc of the process).
type loggedID struct {
	b [40]byte
	n int
}

// startGateway runs a gateway with the YAML config yml; "{listen}" and
// "{upstream}" in it are replaced. It stops when the test ends.
func startGateway(t testing.TB, upstream, yml string) *gateway {
	t.Helper()
	addr := freeport.Addr(t)
	yml = strings.NewReplacer("{listen}", addr, "{upstream}", upstream).Replace(yml)
	cfg, err := config.Parse([]byte(yml), "test.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	compiler := engine.NewCompiler(policies.Build)
	snap, err := compiler.Compile(cfg)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	g := &gateway{addr: addr, logs: make(chan loggedID, 1024)}
	g.srv, err = engine.NewServer(engine.Options{
		Listen:  addr,
		Workers: cfg.Workers,
		AccessLog: func(x *engine.Ctx) {
			var id loggedID
			id.n = copy(id.b[:], x.RequestID())
			select {
			case g.logs <- id:
			default:
			}
		},
		Logf: t.Logf,
	}, snap)
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
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.srv.Shutdown(ctx)
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
		compiler.Close()
	})
	return g
}

// lastLoggedID waits for the next request log line and returns its id.
func (g *gateway) lastLoggedID(t *testing.T) string {
	t.Helper()
	select {
	case id := <-g.logs:
		return string(id.b[:id.n])
	case <-time.After(5 * time.Second):
		t.Fatal("no request was logged")
		return ""
	}
}

// startUpstream runs a net/http upstream until the test ends.
func startUpstream(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// configHead starts a config: one worker, the upstream "up" at {upstream}.
const configHead = `listen: {listen}
workers: 1
upstreams:
  - name: up
    targets: [{ addr: "{upstream}" }]
`

// routeYAML is a one-route config proxying to {upstream} with the given
// policies (YAML list items, indented by six spaces).
func routeYAML(policyItems string) string {
	return configHead + `routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
` + policyItems
}

// client is one keep-alive client connection that writes raw requests and
// reads responses with net/http's parser.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends a raw request (its head lines without the final CRLF pair are
// joined by CRLF) and reads the response.
func (cl *client) do(method, target string, fields ...string) (*http.Response, string) {
	cl.t.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: api.test\r\n"
	for _, f := range fields {
		req += f + "\r\n"
	}
	req += "\r\n"
	cl.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(cl.c, req); err != nil {
		cl.t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(cl.br, &http.Request{Method: method})
	if err != nil {
		cl.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		cl.t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}
