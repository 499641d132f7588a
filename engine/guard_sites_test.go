package engine_test

import (
	"context"
	"fmt"
	"io"
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

// Policy code the engine runs outside a handler is guarded as handlers are
// (guard.go): these tests make a policy panic at each such site and check
// that the gateway keeps serving, what the panicking request got, the log
// line, and that nothing it held stays taken. Without the guards, each
// test below ends the test process (the factory's panic leaves the
// compiler locked: that test hangs), but the sub-requests' one, which pins
// a site that runs through Ctx.call (a completion is a resumed closure).

// siteLog is a gateway's operational log and its requests' failures.
type siteLog struct {
	mu       sync.Mutex
	lines    []string
	failures []string
}

func (l *siteLog) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *siteLog) accessLog(x *engine.Ctx) {
	if f := x.Failure(); f != "" {
		l.mu.Lock()
		l.failures = append(l.failures, fmt.Sprintf("%d %s", x.ResponseStatus(), f))
		l.mu.Unlock()
	}
}

// logged says whether a log line has each of parts.
func (l *siteLog) logged(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return hasAll(l.lines, parts)
}

// failed says whether a request failed with a reason that has each of parts.
func (l *siteLog) failed(parts ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return hasAll(l.failures, parts)
}

func hasAll(lines []string, parts []string) bool {
	for _, line := range lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// waitLogged waits for a log line with each of parts.
func (l *siteLog) waitLogged(t *testing.T, parts ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a log line with %q", parts), func() bool { return l.logged(parts...) })
}

// waitFailed waits for a request failure with each of parts (the access
// log runs once the answer is out: the client may have it first).
func (l *siteLog) waitFailed(t *testing.T, parts ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a request failure with %q", parts), func() bool { return l.failed(parts...) })
}

// siteGateway is startGateway with the log recorded; edit, when not nil,
// changes the options further.
func siteGateway(t *testing.T, yml string, edit func(*engine.Options)) (*gateway, *siteLog) {
	t.Helper()
	l := &siteLog{}
	g := startGatewayAt(t, freeport.Addr(t), yml, func(o *engine.Options) {
		o.Logf, o.AccessLog = l.logf, l.accessLog
		if edit != nil {
			edit(o)
		}
	})
	g.compiler.Logf = l.logf
	return g, l
}

// siteGet sends GET path, with X-Panic: yes when panicking, and returns the
// status and body.
func siteGet(t *testing.T, g *gateway, path string, panicking bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+g.addr+path, nil)
	if panicking {
		req.Header.Set("X-Panic", "yes")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// test-panic-site answers every request itself, through the policy API of
// its config's site, and panics there when the request has X-Panic: yes.
type panicSitePolicy struct {
	site     string
	upstream string
	peer     string
	tag      string
}

// panicSiteCleanups counts the Cleanups of test-panic-site policies that
// did not panic, by their config's tag.
var panicSiteCleanups sync.Map

func cleanups(tag string) int64 {
	n, _ := panicSiteCleanups.LoadOrStore(tag, new(atomic.Int64))
	return n.(*atomic.Int64).Load()
}

func init() {
	policies.Register("test-panic-site", func(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Site     string `yaml:"site"`
			Upstream string `yaml:"upstream"`
			Peer     string `yaml:"peer"`
			Tag      string `yaml:"tag"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		if cfg.Site == "factory" {
			panic("in the factory")
		}
		return &panicSitePolicy{site: cfg.Site, upstream: cfg.Upstream, peer: cfg.Peer, tag: cfg.Tag}, nil
	})
}

func (p *panicSitePolicy) Priority() int { return 0 }
func (p *panicSitePolicy) Terminates() bool {
	if p.site == "terminates" {
		panic("in Terminates")
	}
	return true
}

func (p *panicSitePolicy) Cleanup() {
	if p.site == "cleanup" {
		panic("in Cleanup")
	}
	n, _ := panicSiteCleanups.LoadOrStore(p.tag, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
}

func (p *panicSitePolicy) Install(c *engine.ChainBuilder) error {
	if p.site == "install" {
		var handlers []engine.Handler
		c.Add(engine.PhaseContent, handlers[1]) // an index out of range, as a buggy policy would
	}
	c.Add(engine.PhaseContent, p.content)
	return nil
}

func panicking(x *engine.Ctx) bool {
	v, _ := x.Header("X-Panic")
	return string(v) == "yes"
}

func answer(x *engine.Ctx, body string) engine.Status {
	x.Respond(200, nil, []byte(body))
	return engine.Done
}

func (p *panicSitePolicy) content(x *engine.Ctx) engine.Status {
	switch p.site {
	case "subrequest":
		reqs := []engine.SubRequest{{Upstream: p.upstream, Target: "/part"}}
		return x.Subrequests(reqs, func(x *engine.Ctx, resps []engine.SubResponse) engine.Status {
			if panicking(x) {
				panic("in the sub-requests' completion")
			}
			if resps[0].Err != nil {
				return answer(x, "error: "+resps[0].Err.Error())
			}
			return answer(x, string(resps[0].Body))
		})
	case "offload":
		boom := panicking(x)
		return x.Offload(func(context.Context) func(*engine.Ctx) engine.Status {
			if boom {
				panic("in the off-loop work")
			}
			return func(x *engine.Ctx) engine.Status { return answer(x, "offloaded") }
		})
	case "go":
		boom := panicking(x)
		if !x.Go(func() {
			if boom {
				panic("in Go's work")
			}
		}) {
			x.RespondError(503, "no goroutine")
			return engine.Done
		}
		return answer(x, "went")
	case "peer":
		v, _ := testPeers.Load(p.peer)
		req := []byte(string(x.Path()) + "\n")
		if x.Path()[1] == 'g' { // /gone...: the client leaves before the reply, which goes to the orphan
			return x.CallPeerOr(v.(*engine.Peer), req, func(x *engine.Ctx, _ []byte, _ error) engine.Status {
				return answer(x, "not gone")
			}, func([]byte, error, func([]byte)) { panic("in the orphan") })
		}
		return x.CallPeer(v.(*engine.Peer), req, func(x *engine.Ctx, reply []byte, err error) engine.Status {
			if err != nil {
				x.Respond(503, nil, []byte(err.Error()))
				return engine.Done
			}
			if panicking(x) {
				panic("in the peer's reply")
			}
			return answer(x, string(reply))
		})
	}
	return answer(x, "ok")
}

// A sub-requests' completion that panics fails its request with a 500,
// both when it runs where the last answer was read and when every
// sub-request failed at once (its completion is posted); the sub-request
// connection went back to the pool before the completion ran, and serves
// the next request.
func TestSubrequestCompletionPanicFailsTheRequest(t *testing.T) {
	up, conns := scriptedUpstream(t, func(string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npart", false
	})
	for _, tc := range []struct{ name, upstream, want string }{
		{"answered", "up", "part"},
		{"failed at once", "nowhere", "error: " + engine.ErrNoTarget.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, l := siteGateway(t, fmt.Sprintf(`listen: {listen}
workers: 1
upstreams:
  - { name: up, targets: [ { addr: %s } ] }
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: test-panic-site, config: { site: subrequest, upstream: %s } } ]
`, up, tc.upstream), nil)
			for i, boom := range []bool{true, false, true, false} {
				st, body := siteGet(t, g, "/", boom)
				if boom && st != 500 || !boom && (st != 200 || !strings.HasPrefix(body, tc.want)) {
					t.Fatalf("request %d (panicking %v): %d %q", i, boom, st, body)
				}
			}
			l.waitFailed(t, "500 policy panicked in content: in the sub-requests' completion")
			if !l.logged("policy panicked in content: in the sub-requests' completion", "goroutine ") {
				t.Fatal("no log line with the panic and its stack")
			}
			waitInFlight(t, g, 0)
		})
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the sub-requests opened %d connections, want 1 (kept across the panics)", n)
	}
}

// An Offload's work that panics on its goroutine fails its request with a
// 500, and gives its goroutine back: with a pool of one, the next
// requests still get one.
func TestOffloadWorkPanicFailsTheRequest(t *testing.T) {
	g, l := siteGateway(t, `listen: {listen}
workers: 1
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: test-panic-site, config: { site: offload } } ]
`, func(o *engine.Options) { o.OffloadGoroutines = 1 })
	for i, boom := range []bool{true, false, true, false} {
		waitFor(t, "the offload goroutine back in the pool", func() bool { return engine.OffloadBusy(g.srv) == 0 })
		st, body := siteGet(t, g, "/", boom)
		if boom && st != 500 || !boom && (st != 200 || body != "offloaded") {
			t.Fatalf("request %d (panicking %v): %d %q", i, boom, st, body)
		}
	}
	l.waitFailed(t, "500 policy panicked in content (off-loop work): in the off-loop work")
	if !l.logged("policy panicked in content (off-loop work): in the off-loop work", "goroutine ") {
		t.Fatal("no log line with the panic and its stack")
	}
	waitInFlight(t, g, 0)
	waitFor(t, "the offload pool empty", func() bool { return engine.OffloadBusy(g.srv) == 0 })
}

// Work a policy runs with Ctx.Go that panics is logged with its stack and
// goes no further; the request it came from was answered already, and the
// goroutine goes back to the pool.
func TestGoWorkPanicIsLoggedAndDropped(t *testing.T) {
	g, l := siteGateway(t, `listen: {listen}
workers: 1
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: test-panic-site, config: { site: go } } ]
`, func(o *engine.Options) { o.OffloadGoroutines = 1 })
	for i, boom := range []bool{true, false, true, false} {
		waitFor(t, "the offload goroutine back in the pool", func() bool { return engine.OffloadBusy(g.srv) == 0 })
		if st, body := siteGet(t, g, "/", boom); st != 200 || body != "went" {
			t.Fatalf("request %d (panicking %v): %d %q", i, boom, st, body)
		}
	}
	l.waitLogged(t, "off-loop work panicked: in Go's work", "goroutine ")
	waitInFlight(t, g, 0)
	waitFor(t, "the offload pool empty", func() bool { return engine.OffloadBusy(g.srv) == 0 })
}

// peerSiteGateway runs a one-worker gateway whose requests call the peer
// p through test-panic-site.
func peerSiteGateway(t *testing.T, o engine.PeerOptions) (*gateway, *siteLog, *engine.Peer) {
	t.Helper()
	name, p := newTestPeer(t, o)
	g, l := siteGateway(t, fmt.Sprintf(`listen: {listen}
workers: 1
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: test-panic-site, config: { site: peer, peer: %q } } ]
`, name), nil)
	return g, l, p
}

// A peer's reply whose continuation panics fails its request with a 500;
// the replies after it on the connection are delivered, and the one
// connection serves the next calls.
func TestPeerReplyPanicFailsTheRequest(t *testing.T) {
	addr, conns := rawUpstream(t, echoLines(""))
	g, l, p := peerSiteGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}})
	for i, boom := range []bool{true, false, true, false} {
		st, body := siteGet(t, g, "/call", boom)
		if boom && st != 500 || !boom && (st != 200 || body != "/call\n") {
			t.Fatalf("request %d (panicking %v): %d %q", i, boom, st, body)
		}
	}
	l.waitFailed(t, "500 policy panicked in content (peer reply): in the peer's reply")
	if !l.logged("policy panicked in content (peer reply): in the peer's reply", "goroutine ") {
		t.Fatal("no log line with the panic and its stack")
	}
	idleThenNext(t, g, p, "no call on the peer")
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d peer connections, want 1", n)
	}
	waitInFlight(t, g, 0)
}

// An orphan (the reply to a call whose client left) that panics is logged
// and dropped; the connection serves the next call.
func TestPeerOrphanPanicIsLoggedAndDropped(t *testing.T) {
	addr, release := echoGoneOnRelease(t)
	g, l, p := peerSiteGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, CallTimeout: time.Minute})
	callThenLeave(t, g, p)
	waitInFlight(t, g, 0) // the client is gone: the reply finds no request
	close(release)
	l.waitLogged(t, "a PeerOrphan panicked: in the orphan", "goroutine ")
	idleThenNext(t, g, p, "the reply to be read")
}

// panicProto is lineProto whose code panics: ReplyLen on a reply starting
// "/boom", Greeting when asked, and its PeerWatcher always.
type panicProto struct {
	lineProto
	greetPanics bool
}

func (p panicProto) Greeting() ([]byte, int) {
	if p.greetPanics {
		panic("in Greeting")
	}
	return p.lineProto.Greeting()
}

func (p panicProto) ReplyLen(buf []byte) (int, error) {
	if strings.HasPrefix(string(buf), "/boom") {
		panic("in ReplyLen")
	}
	return p.lineProto.ReplyLen(buf)
}

func (panicProto) PeerState(up, wasDown bool) {
	panic(fmt.Sprintf("in PeerState(%v, %v)", up, wasDown))
}

// A peer protocol that panics is a protocol fault: the connection goes
// and its calls fail (503 from the policy, with ErrPeerUnavailable), the
// panic and its stack are logged, and the next connection serves calls.
// A PeerWatcher's panic is logged and changes nothing.
func TestPeerProtocolPanicClosesTheConnection(t *testing.T) {
	t.Run("ReplyLen", func(t *testing.T) {
		addr, conns := rawUpstream(t, echoLines(""))
		g, l, p := peerSiteGateway(t, engine.PeerOptions{Addr: addr, Protocol: panicProto{}})
		if st, body := siteGet(t, g, "/first", false); st != 200 || body != "/first\n" {
			t.Fatalf("the first call: %d %q", st, body)
		}
		l.waitLogged(t, "PeerState panicked: in PeerState(true, false)", "goroutine ")
		if st, body := siteGet(t, g, "/boom", false); st != 503 || !strings.Contains(body, "bad reply: ReplyLen panicked: in ReplyLen") {
			t.Fatalf("the call whose reply panics: %d %q", st, body)
		}
		l.waitLogged(t, "ReplyLen panicked: in ReplyLen", "goroutine ")
		l.waitLogged(t, "PeerState panicked: in PeerState(false, false)")
		// Calls fail at once for the backoff (at most 250ms), then the
		// next connection serves them.
		waitFor(t, "a call served again", func() bool {
			st, body := siteGet(t, g, "/again", false)
			return st == 200 && body == "/again\n"
		})
		if n := conns.Load(); n != 2 {
			t.Fatalf("%d peer connections, want 2", n)
		}
		idleThenNext(t, g, p, "no call on the peer")
		waitInFlight(t, g, 0)
	})
	t.Run("Greeting", func(t *testing.T) {
		addr, _ := rawUpstream(t, echoLines("OK\n"))
		g, l, _ := peerSiteGateway(t, engine.PeerOptions{Addr: addr, Protocol: panicProto{lineProto: lineProto{greet: true}, greetPanics: true}})
		for i := range 3 {
			if st, body := siteGet(t, g, "/call", false); st != 503 || !strings.Contains(body, "Greeting panicked: in Greeting") {
				t.Fatalf("call %d: %d %q", i, st, body)
			}
		}
		l.waitLogged(t, "Greeting panicked: in Greeting", "goroutine ")
		waitInFlight(t, g, 0)
	})
}

// A policy whose factory or Install panics fails the compile with an
// error that says so, as a config error would: the version in force keeps
// serving, and the compiler compiles again (its lock was not left held).
func TestPolicyBuildPanicFailsTheCompile(t *testing.T) {
	yml := func(site string) string {
		return `listen: {listen}
workers: 1
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: test-panic-site, config: { site: ` + site + ` } } ]
`
	}
	g, l := siteGateway(t, yml("plain"), nil)
	for _, tc := range []struct{ site, want string }{
		{"factory", `routes[0].policies[0]: policy "test-panic-site" panicked while being built: in the factory`},
		{"install", "routes[0].policies[0]: policy panicked while installing its handlers: runtime error: index out of range"},
		{"terminates", "routes[0].policies[0]: policy panicked in Terminates: in Terminates"},
	} {
		cfg, err := config.Parse([]byte(strings.ReplaceAll(yml(tc.site), "{listen}", g.addr)), "panic.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.compiler.Compile(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: compile error %v, want one with %q", tc.site, err, tc.want)
		}
		if !l.logged(strings.TrimPrefix(tc.want, "routes[0].policies[0]: "), "goroutine ") {
			t.Fatalf("%s: no log line with the panic and its stack", tc.site)
		}
		if st, body := siteGet(t, g, "/", false); st != 200 || body != "ok" {
			t.Fatalf("%s: the version in force answered %d %q", tc.site, st, body)
		}
	}
	g.reload(t, yml("plain"))
	if st, body := siteGet(t, g, "/", false); st != 200 || body != "ok" {
		t.Fatalf("after a reload: %d %q", st, body)
	}
}

// A policy whose Cleanup panics, on the goroutine that retires its
// version, is logged with its stack; the other policies of its set still
// get their Cleanup.
func TestPolicyCleanupPanicIsLogged(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g, l := siteGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/*"] }
    policies:
      - { name: test-panic-site, id: bad, config: { site: cleanup } }
      - { name: test-panic-site, id: good, config: { site: plain, tag: `+t.Name()+` } }
`, up.addr), nil)
	if st, _ := siteGet(t, g, "/", false); st != 200 {
		t.Fatalf("status %d", st)
	}
	cleaned := cleanups(t.Name()) // a test run again counts on
	g.reload(t, upstreamYAML("{listen}", `routes:
  - { match: { paths: ["/*"] }, upstream: up }
`, up.addr))
	l.waitLogged(t, `policy "bad" (*engine_test.panicSitePolicy) panicked in Cleanup: in Cleanup`, "goroutine ")
	waitFor(t, "the good policy's Cleanup", func() bool { return cleanups(t.Name()) == cleaned+1 })
	if st, _ := siteGet(t, g, "/", false); st != 200 {
		t.Fatalf("after the reload: status %d", st)
	}
}
