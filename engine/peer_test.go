package engine_test

import (
	"bufio"
	"bytes"
	"errors"
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
	"github.com/sluice-gw/sluice/redis/redistest"
)

// The peer tests speak a line protocol: a call is "PATH\n" and its reply
// one line; a new connection greets with "HELLO\n", answered "OK" or "NO".
// A reply starting with '!' is not the protocol's.

type lineProto struct{ greet bool }

func (p lineProto) Greeting() ([]byte, int) {
	if !p.greet {
		return nil, 0
	}
	return []byte("HELLO\n"), 1
}

func (lineProto) CheckGreeting(reply []byte) error {
	if string(reply) != "OK\n" {
		return fmt.Errorf("greeting refused: %q", reply)
	}
	return nil
}

func (lineProto) ReplyLen(buf []byte) (int, error) {
	if len(buf) > 0 && buf[0] == '!' {
		return 0, errors.New("a reply starting with '!'")
	}
	return bytes.IndexByte(buf, '\n') + 1, nil
}

// testPeers are the peers the test-peer policy calls, by name.
var testPeers sync.Map

// test-peer calls the peer named in its config with the request's path and
// answers 200 with the reply, or 503 with the error.
func init() {
	policies.Register("test-peer", func(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Peer string `yaml:"peer"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		return &peerPolicy{name: cfg.Peer}, nil
	})
}

// test-peer answers paths of two kinds its own way: /fire/... is sent
// with SendPeer and answered 202 at once; /undo/... is called with an
// orphan handler that sends "undo PATH" when the client left first.
type peerPolicy struct{ name string }

func (p *peerPolicy) Priority() int    { return 0 }
func (p *peerPolicy) Terminates() bool { return true }
func (p *peerPolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseContent, p.content)
	return nil
}

func (p *peerPolicy) content(x *engine.Ctx) engine.Status {
	v, _ := testPeers.Load(p.name)
	peer := v.(*engine.Peer)
	path := string(x.Path())
	req := append([]byte(path), '\n')
	if strings.HasPrefix(path, "/fire/") {
		if err := x.SendPeer(peer, req); err != nil {
			x.Respond(503, nil, []byte(err.Error()))
			return engine.Done
		}
		x.Respond(202, nil, nil)
		return engine.Done
	}
	var orphan engine.PeerOrphan
	if strings.HasPrefix(path, "/undo/") {
		orphan = func(reply []byte, err error, send func([]byte)) {
			if err == nil {
				send([]byte("undo " + strings.TrimSpace(string(reply)) + "\n"))
			}
		}
	}
	return x.CallPeerOr(peer, req, func(x *engine.Ctx, reply []byte, err error) engine.Status {
		if err != nil {
			x.Respond(503, nil, []byte(err.Error()))
			return engine.Done
		}
		x.Respond(200, nil, bytes.Clone(reply))
		return engine.Done
	}, orphan)
}

// peerGateway runs a one-worker gateway whose every request calls the
// peer at addr.
func peerGateway(t *testing.T, o engine.PeerOptions) (*gateway, *engine.Peer) {
	t.Helper()
	name, p := newTestPeer(t, o)
	g := startGateway(t, fmt.Sprintf(`listen: {listen}
workers: 1
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: test-peer, config: { peer: %q } } ]
`, name))
	return g, p
}

// newTestPeer makes a peer for the test, known to the test policies by
// the name it returns until the test ends.
func newTestPeer(t *testing.T, o engine.PeerOptions) (string, *engine.Peer) {
	p := engine.NewPeer(o)
	t.Cleanup(p.Close)
	name := t.Name()
	testPeers.Store(name, p)
	t.Cleanup(func() { testPeers.Delete(name) })
	return name, p
}

// peerGet sends GET path and returns the status and body; a failed
// exchange is status 0 and the error.
func peerGet(t *testing.T, g *gateway, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + g.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// echoLines answers every line with itself, after the greeting if asked.
func echoLines(greet string) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		if greet != "" {
			if line, err := br.ReadString('\n'); err != nil || line != "HELLO\n" {
				return
			}
			if _, err := io.WriteString(c, greet); err != nil {
				return
			}
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	}
}

// echoAfter is a peer answering every line with itself, after before(line)
// returns (it may block, or record the line).
func echoAfter(t *testing.T, before func(line string)) string {
	return answerLines(t, func(c net.Conn, line string) error {
		before(line)
		_, err := io.WriteString(c, line)
		return err
	})
}

// answerLines is a peer that reads lines and answers each with answer,
// until the connection or answer fails.
func answerLines(t *testing.T, answer func(c net.Conn, line string) error) string {
	addr, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || answer(c, line) != nil {
				return
			}
		}
	})
	return addr
}

// Every call gets its own reply, in order, over the one connection of the
// worker, greeting first.
func TestPeerCallsGetTheirReplies(t *testing.T) {
	addr, conns := rawUpstream(t, echoLines("OK\n"))
	g, _ := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{greet: true}})
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 25 {
				path := fmt.Sprintf("/c%d/r%d", i, j)
				st, body := peerGet(t, g, path)
				if st != 200 || body != path+"\n" {
					errs <- fmt.Sprintf("%s: %d %q", path, st, body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the worker opened %d connections to the peer, want 1", n)
	}
}

// Calls made while others are in flight wait, and go out in one write
// once the replies come back.
func TestPeerBatchesCallsWhileRepliesAreDue(t *testing.T) {
	release := make(chan struct{})
	reads := make(chan string, 16)
	addr, _ := rawUpstream(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		first := true
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			lines := string(buf[:n])
			reads <- lines
			if first {
				<-release // hold the first reply
				first = false
			}
			if _, err := io.WriteString(c, lines); err != nil {
				return
			}
		}
	})
	g, p := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, CallTimeout: time.Minute})
	results := make(chan string, 11)
	get := func(path string) {
		st, body := peerGet(t, g, path)
		results <- fmt.Sprintf("%d %s", st, strings.TrimSpace(body))
	}
	go get("/first")
	if got := <-reads; got != "/first\n" {
		t.Fatalf("the peer read %q, want the first call alone", got)
	}
	for i := range 10 {
		go get(fmt.Sprintf("/next%d", i))
	}
	waitFor(t, "10 calls waiting", func() bool {
		sent, waiting := engine.PeerCalls(g.srv, p)
		return sent == 1 && waiting == 10
	})
	close(release)
	batch := <-reads
	if n := strings.Count(batch, "\n"); n != 10 {
		t.Errorf("the 10 waiting calls came in a read of %d lines (%q), want one write of 10", n, batch)
	}
	want := map[string]bool{"200 /first": true}
	for i := range 10 {
		want[fmt.Sprintf("200 /next%d", i)] = true
	}
	for range 11 {
		r := <-results
		if !want[r] {
			t.Errorf("unexpected result %q", r)
		}
		delete(want, r)
	}
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A peer that does not answer: the call fails with ErrPeerTimeout after
// CallTimeout, the connection is closed, and once the peer answers again
// calls succeed on a new connection.
func TestPeerTimeoutClosesAndRecovers(t *testing.T) {
	var mute atomic.Bool
	mute.Store(true)
	closed := make(chan struct{}, 4)
	addr, conns := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				closed <- struct{}{}
				return
			}
			if !mute.Load() {
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
		}
	})
	g, _ := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, CallTimeout: 100 * time.Millisecond})
	st, body := peerGet(t, g, "/slow")
	if st != 503 || !strings.Contains(body, "peer timed out") || !strings.Contains(body, "no reply within 100ms") {
		t.Fatalf("a call without reply: %d %q, want 503 saying it timed out", st, body)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the timed-out connection was not closed")
	}
	mute.Store(false)
	waitFor(t, "a call to succeed again", func() bool {
		st, body := peerGet(t, g, "/back")
		return st == 200 && body == "/back\n"
	})
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the timed-out one, then a new one)", n)
	}
}

// Nothing listens: calls fail at once with ErrPeerUnavailable (connect
// refused), and within the backoff's cap of the peer coming up, calls work.
func TestPeerDownThenUp(t *testing.T) {
	addr := freeport.Addr(t)
	g, _ := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}})
	for range 5 {
		st, body := peerGet(t, g, "/x")
		if st != 503 || !strings.Contains(body, "peer unavailable") || !strings.Contains(body, "connect") {
			t.Fatalf("peer down: %d %q, want 503 saying it cannot connect", st, body)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); echoLines("")(c) }()
		}
	}()
	up := time.Now()
	waitFor(t, "calls to work once the peer is up", func() bool {
		st, _ := peerGet(t, g, "/y")
		return st == 200
	})
	// The backoff is capped at 250ms; allow for a loaded machine.
	if d := time.Since(up); d > 5*time.Second {
		t.Errorf("calls worked %v after the peer came up", d)
	}
}

// A refused greeting fails the calls with the protocol's error, and the
// connection is closed.
func TestPeerGreetingRefused(t *testing.T) {
	addr, _ := rawUpstream(t, echoLines("NO\n"))
	g, _ := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{greet: true}})
	st, body := peerGet(t, g, "/x")
	if st != 503 || !strings.Contains(body, "greeting refused") || !strings.Contains(body, "peer unavailable") {
		t.Fatalf("refused greeting: %d %q", st, body)
	}
}

// A reply that is not the protocol's fails the calls in flight and closes
// the connection; a server closing mid-call fails it too. Neither hangs.
func TestPeerBadReplyAndClose(t *testing.T) {
	addr, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		switch line {
		case "/bad\n":
			_, _ = io.WriteString(c, "!nonsense\n")
			_, _ = br.ReadString('\n') // until the gateway closes
		case "/close\n":
			// close without answering
		}
	})
	g, _ := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}})
	st, body := peerGet(t, g, "/bad")
	if st != 503 || !strings.Contains(body, "bad reply") {
		t.Fatalf("bad reply: %d %q", st, body)
	}
	// Until the backoff after the bad reply ends, calls fail with its
	// error; then one reaches the server, which closes on it.
	waitFor(t, "a call failed by the server closing", func() bool {
		st, body = peerGet(t, g, "/close")
		if st != 503 || !strings.Contains(body, "connection closed") && !strings.Contains(body, "bad reply") {
			t.Fatalf("peer closed mid-call: %d %q", st, body)
		}
		return strings.Contains(body, "connection closed")
	})
}

// Past MaxPending calls on the worker's connection, a call fails at once.
func TestPeerBusy(t *testing.T) {
	release := make(chan struct{})
	addr, _ := rawUpstream(t, func(c net.Conn) {
		<-release
		echoLines("")(c)
	})
	defer close(release) // before the gateway's shutdown, which waits for the held calls
	g, p := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, MaxPending: 2, CallTimeout: time.Minute})
	for i := range 2 {
		go peerGet(t, g, fmt.Sprintf("/held%d", i))
	}
	waitFor(t, "2 calls held", func() bool {
		sent, waiting := engine.PeerCalls(g.srv, p)
		return sent+waiting == 2
	})
	st, body := peerGet(t, g, "/third")
	if st != 503 || !strings.Contains(body, "too many calls") {
		t.Fatalf("third call: %d %q, want 503 busy", st, body)
	}
}

// Close fails the calls in flight and every later one with ErrPeerClosed.
func TestPeerClose(t *testing.T) {
	addr, _ := rawUpstream(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	g, p := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, CallTimeout: time.Minute})
	res := make(chan string, 1)
	go func() {
		st, body := peerGet(t, g, "/held")
		res <- fmt.Sprintf("%d %s", st, body)
	}()
	waitFor(t, "the call in flight", func() bool {
		sent, _ := engine.PeerCalls(g.srv, p)
		return sent == 1
	})
	p.Close()
	if r := <-res; !strings.HasPrefix(r, "503 ") || !strings.Contains(r, "peer closed") {
		t.Fatalf("call in flight at Close: %q", r)
	}
	if st, body := peerGet(t, g, "/after"); st != 503 || !strings.Contains(body, "peer closed") {
		t.Fatalf("call after Close: %d %q", st, body)
	}
}

// A client that goes away while its call is in flight: the reply is read
// and dropped, and the connection serves the next call.
func TestPeerReplyToAGoneClient(t *testing.T) {
	addr, release := echoGoneOnRelease(t)
	g, p := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, CallTimeout: time.Minute})
	callThenLeave(t, g, p)
	close(release)
	idleThenNext(t, g, p, "the reply to be read")
}

// echoGoneOnRelease is a peer answering every line with itself, "/gone"
// once release is closed.
func echoGoneOnRelease(t *testing.T) (addr string, release chan struct{}) {
	release = make(chan struct{})
	return echoAfter(t, func(line string) {
		if line == "/gone\n" {
			<-release
		}
	}), release
}

// callThenLeave sends GET /gone from a client of its own, waits for its
// call to be in flight on p, and closes the client.
func callThenLeave(t *testing.T, g *gateway, p *engine.Peer) {
	t.Helper()
	rc := dialRaw(t, g.addr)
	rc.send("GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the call in flight", func() bool {
		sent, _ := engine.PeerCalls(g.srv, p)
		return sent == 1
	})
	rc.c.Close()
}

// idleThenNext waits until the worker's connection holds no call (what
// it waits for), then checks that a call still gets its own reply.
func idleThenNext(t *testing.T, g *gateway, p *engine.Peer, what string) {
	t.Helper()
	waitFor(t, what, func() bool {
		sent, waiting := engine.PeerCalls(g.srv, p)
		return sent == 0 && waiting == 0
	})
	if st, body := peerGet(t, g, "/next"); st != 200 || body != "/next\n" {
		t.Fatalf("the call after: %d %q", st, body)
	}
}

// A redis section changed under load makes a new client and Peer; the
// requests in flight finish on the old one, which closes once its last
// config version retires: no request fails, and the server ends up with
// the new version's loop connections only.
func TestRedisPeerFollowsTheRedisSection(t *testing.T) {
	rs := redistest.Start(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	yml := func(timeout string) string {
		return fmt.Sprintf(`listen: {listen}
workers: 2
redis: { addresses: [%s], read_timeout: %s }
upstreams:
  - { name: up, targets: [ { addr: %s } ] }
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: limit-count, config: { count: 1000000000, window: 1h, policy: redis, fault_tolerant: false } }
`, rs.Addr(), timeout, up.addr)
	}
	// The read timeouts differ only to make each reload a new redis
	// section; they are seconds, so that a Redis slowed by a loaded
	// machine (-race, packages in parallel) fails no request.
	g := startGateway(t, yml("5s"))
	load := startLoadChecked("http://"+g.addr+"/x", 8, func(resp *http.Response) error {
		if resp.Header.Get("X-RateLimit-Limit") == "" {
			return fmt.Errorf("%d without X-RateLimit-Limit", resp.StatusCode)
		}
		return nil
	})
	// The first decisions may find the connections still opening.
	time.Sleep(300 * time.Millisecond)
	base := load.failed.Load()
	for i, timeout := range []string{"4s", "3s", "4500ms"} {
		g.reload(t, yml(timeout))
		time.Sleep(200 * time.Millisecond)
		if n := load.failed.Load() - base; n > 0 {
			t.Errorf("after reload %d: %d requests failed; first: %v", i+1, n, load.firstErr.Load())
		}
	}
	load.stop()
	waitFor(t, "the old versions' loop connections to close", func() bool {
		list, err := rs.Do("CLIENT", "LIST")
		return err == nil && strings.Count(list, "name=sluice-loop") <= 2
	})
}

// A reply that arrives a byte at a time is waited for, then delivered
// whole.
func TestPeerReplyInPieces(t *testing.T) {
	addr := answerLines(t, func(c net.Conn, line string) error {
		for i := range len(line) {
			if _, err := c.Write([]byte{line[i]}); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	g, _ := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, CallTimeout: 10 * time.Second})
	for _, path := range []string{"/first-in-pieces", "/second"} {
		if st, body := peerGet(t, g, path); st != 200 || body != path+"\n" {
			t.Fatalf("%s: %d %q", path, st, body)
		}
	}
}

// SendPeer's call goes out in order with the others and its reply is
// dropped: the next call still gets its own.
func TestPeerSendDropsItsReply(t *testing.T) {
	lines := make(chan string, 8)
	addr := echoAfter(t, func(line string) { lines <- line })
	g, p := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}})
	if st, body := peerGet(t, g, "/fire/one"); st != 202 {
		t.Fatalf("send: %d %q", st, body)
	}
	if got := <-lines; got != "/fire/one\n" {
		t.Fatalf("the peer read %q", got)
	}
	idleThenNext(t, g, p, "the dropped reply to be read")
}

// A call whose client left before the reply: the reply goes to the
// orphan handler, which undoes the call with a send of its own.
func TestPeerOrphanUndoes(t *testing.T) {
	release := make(chan struct{})
	lines := make(chan string, 8)
	addr := echoAfter(t, func(line string) {
		lines <- line
		if line == "/undo/held\n" {
			<-release
		}
	})
	g, p := peerGateway(t, engine.PeerOptions{Addr: addr, Protocol: lineProto{}, CallTimeout: time.Minute})
	rc := dialRaw(t, g.addr)
	rc.send("GET /undo/held HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := <-lines; got != "/undo/held\n" {
		t.Fatalf("the peer read %q", got)
	}
	rc.c.Close()
	// The request ends (the client is gone) while its call is in flight.
	waitFor(t, "the request to end", func() bool {
		return g.srv.Stats().ClientConns == 0
	})
	close(release)
	select {
	case got := <-lines:
		if got != "undo /undo/held\n" {
			t.Fatalf("after the orphaned reply the peer read %q, want the undo", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no undo after the orphaned reply")
	}
	idleThenNext(t, g, p, "the undo's reply to be read")
}
