package engine_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// subsPolicy sends one sub-request per configured path to one upstream and
// answers one line per result: "status body" or "error: ...". With header
// set, a line is "status X-Tag=value" or "status no header" (the response
// header was not built: NoHeader), and header "none" sends NoHeader.
type subsPolicy struct {
	upstream string
	paths    []string
	method   string
	header   string
}

func init() {
	policies.Register("test-subs", func(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Upstream string   `yaml:"upstream"`
			Paths    []string `yaml:"paths"`
			Method   string   `yaml:"method"`
			Header   string   `yaml:"header"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		return &subsPolicy{upstream: cfg.Upstream, paths: cfg.Paths, method: cfg.Method, header: cfg.Header}, nil
	})
}

func (p *subsPolicy) Priority() int    { return 0 }
func (p *subsPolicy) Terminates() bool { return true }
func (p *subsPolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseContent, p.content)
	return nil
}

func (p *subsPolicy) content(x *engine.Ctx) engine.Status {
	reqs := make([]engine.SubRequest, len(p.paths))
	for i, path := range p.paths {
		reqs[i] = engine.SubRequest{Upstream: p.upstream, Target: path, Method: p.method, Timeout: 5 * time.Second, NoHeader: p.header == "none"}
	}
	return x.Subrequests(reqs, func(x *engine.Ctx, resps []engine.SubResponse) engine.Status {
		var b strings.Builder
		for _, r := range resps {
			if r.Err != nil {
				fmt.Fprintf(&b, "error: %v\n", r.Err)
				continue
			}
			switch {
			case p.header == "":
				fmt.Fprintf(&b, "%d %s\n", r.Status, r.Body)
			case r.Header == nil:
				fmt.Fprintf(&b, "%d no header\n", r.Status)
			default:
				fmt.Fprintf(&b, "%d X-Tag=%s\n", r.Status, r.Header.Get("X-Tag"))
			}
		}
		x.Respond(200, nil, []byte(b.String()))
		return engine.Done
	})
}

// scriptedUpstream is engine.RawServer answering by the request's path.
func scriptedUpstream(t *testing.T, answer func(path string) (resp string, close bool)) (string, *atomic.Int32) {
	return engine.RawServer(t, func(_ int, head string) (string, bool) {
		path := ""
		if f := strings.Fields(head); len(f) > 1 {
			path = f[1]
		}
		return answer(path)
	})
}

func subsGateway(t *testing.T, up string, paths ...string) *gateway {
	t.Helper()
	return startGateway(t, fmt.Sprintf(`listen: {listen}
workers: 1
upstreams:
  - { name: up, targets: [ { addr: %s } ] }
routes:
  - match: { paths: ["/subs"] }
    policies: [ { name: test-subs, config: { upstream: up, paths: [%s] } } ]
`, up, strings.Join(paths, ", ")))
}

// The loop's reader takes every framing, an interim answer, and refuses
// a bad head and a body over its limit, each sub-request on its own.
func TestLoopSubFramings(t *testing.T) {
	up, _ := scriptedUpstream(t, func(path string) (string, bool) {
		switch path {
		case "/len":
			return "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nlen", false
		case "/chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nchu\r\n4\r\nnked\r\n0\r\n\r\n", false
		case "/close":
			return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close", true
		case "/interim":
			return "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", false
		case "/big":
			return "HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", true
		case "/empty":
			return "HTTP/1.1 204 No Content\r\n\r\n", false
		case "/endless":
			return "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("f", 100)+"\r\n", 1000), false // 110 KB, no end
		case "/trickle":
			return "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("t", 100000), false
		}
		return "garbage\r\n\r\n", true
	})
	check := func(g *gateway, rounds int, want ...string) {
		t.Helper()
		rc := dialRaw(t, g.addr)
		for i := range rounds { // again on kept connections
			rc.send("GET /subs HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, body := rc.response("GET")
			lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
			if resp.StatusCode != 200 || len(lines) != len(want) {
				t.Fatalf("round %d: %d %q", i, resp.StatusCode, body)
			}
			for k, w := range want {
				if !strings.HasPrefix(lines[k], w) {
					t.Errorf("round %d, sub-request %d: %q, want %q", i, k, lines[k], w)
				}
			}
		}
		waitInFlight(t, g, 0)
	}
	check(subsGateway(t, up, "/len", "/chunked", "/close", "/interim", "/empty", "/trickle"), 3,
		"200 len", "200 chunked", "200 until close", "201 ok", "204 ", "200 "+strings.Repeat("t", 100000))
	// Failures count against the target's health: one round.
	check(subsGateway(t, up, "/big", "/bad", "/endless"), 1,
		"error: "+engine.ErrSubResponseTooLarge.Error(), "error: engine: sub-request: bad response head",
		"error: engine: sub-request: bad response head")
}

// A policy that does not read the answers' fields says so with NoHeader,
// and the map is not built (17 of an aggregated call's 21 allocations
// were); without it the fields are there.
func TestLoopSubNoHeaderLeavesTheFieldsOut(t *testing.T) {
	up, _ := scriptedUpstream(t, func(string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nX-Tag: blue\r\nContent-Length: 2\r\n\r\nok", false
	})
	for _, c := range []struct{ header, want string }{{"keep", "200 X-Tag=blue"}, {"none", "200 no header"}} {
		g := startGateway(t, fmt.Sprintf(`listen: {listen}
workers: 1
upstreams:
  - { name: up, targets: [ { addr: %s } ] }
routes:
  - match: { paths: ["/subs"] }
    policies: [ { name: test-subs, config: { upstream: up, paths: [/a, /b], header: %s } } ]
`, up, c.header))
		rc := dialRaw(t, g.addr)
		rc.send("GET /subs HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != c.want+"\n"+c.want+"\n" {
			t.Fatalf("header %s: %d %q, want two lines %q", c.header, resp.StatusCode, body, c.want)
		}
	}
}

// The sub-requests of a request are all written before any answer is
// awaited: an upstream that answers only once the three requests have
// arrived is answered (a client that waited for one answer before sending
// the next would get the upstream's 504 after 10 s).
func TestLoopSubAllSentBeforeAnyAnswer(t *testing.T) {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	up, _ := scriptedUpstream(t, func(path string) (string, bool) {
		mu.Lock()
		if arrived++; arrived == 3 {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
		case <-time.After(10 * time.Second):
			return "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\n\r\n", false
		}
	})
	g := subsGateway(t, up, "/a", "/b", "/c")
	rc := dialRaw(t, g.addr)
	rc.send("GET /subs HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := rc.response("GET"); body != "200 ok\n200 ok\n200 ok\n" {
		t.Fatalf("%q", body)
	}
}

// Connections are kept and reused; one the upstream closed while it sat
// in the pool is replaced at once and the sub-request answered.
func TestLoopSubKeepsAndReplacesConnections(t *testing.T) {
	up, conns := scriptedUpstream(t, func(path string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept", path == "/last" // closed after, without saying so
	})
	g := subsGateway(t, up, "/x")
	rc := dialRaw(t, g.addr)
	for i := range 5 {
		rc.send("GET /subs HTTP/1.1\r\nHost: a\r\n\r\n")
		if _, body := rc.response("GET"); body != "200 kept\n" {
			t.Fatalf("request %d: %q", i, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("five sequential sub-requests opened %d connections, want 1", n)
	}

	up2, conns2 := scriptedUpstream(t, func(path string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept", true // every connection closes after one answer
	})
	g2 := subsGateway(t, up2, "/x")
	rc2 := dialRaw(t, g2.addr)
	for i := range 3 {
		rc2.send("GET /subs HTTP/1.1\r\nHost: a\r\n\r\n")
		if _, body := rc2.response("GET"); body != "200 kept\n" {
			t.Fatalf("request %d after a closed kept connection: %q", i, body)
		}
		time.Sleep(20 * time.Millisecond) // the close reaches the pooled connection, or not: both must answer
	}
	if n := conns2.Load(); n != 3 {
		t.Fatalf("%d connections for 3 answers of one each", n)
	}
}

// A sub-request that cannot be written (a target with a space) fails on
// its own and says nothing about the target: the good one beside it keeps
// being answered however often it happens.
func TestLoopSubBadRequestSparesTheTarget(t *testing.T) {
	up, _ := scriptedUpstream(t, func(path string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	g := subsGateway(t, up, "/ok", `"/bad path"`)
	rc := dialRaw(t, g.addr)
	for i := range 20 {
		rc.send("GET /subs HTTP/1.1\r\nHost: a\r\n\r\n")
		_, body := rc.response("GET")
		if !strings.HasPrefix(body, "200 ok\nerror: engine: invalid sub-request") {
			t.Fatalf("request %d: %q", i, body)
		}
	}
}
