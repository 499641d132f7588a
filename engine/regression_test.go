package engine_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/internal/freeport"
	"github.com/sluice-gw/sluice/policies"
)

// Bug: a retried status with no other target to try became an empty 502.
func TestRetriedStatusWithNoOtherTargetPassesTheResponseThrough(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(503)
		io.WriteString(w, "busy upstream")
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 503 || body != "busy upstream" || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
	// A retry that could not happen must not spend the retry budget.
	if n := g.srv.Snapshot().Upstream("up").LB().Status().RetryBudget.Retries; n != 0 {
		t.Fatalf("retry budget charged %d retries with no other target", n)
	}
	if n := g.srv.Stats().UpstreamRetries; n != 0 {
		t.Fatalf("%d retries counted", n)
	}
}

func TestRetriedStatusGoesToAnotherTarget(t *testing.T) {
	bad := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) })
	good := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "good") })
	g := startGateway(t, upstreamYAML("{listen}", `    health: { passive: { max_fails: -1 } }
`+routeAll, bad.addr, good.addr))
	for i := 0; i < 6; i++ {
		resp, err := http.Get("http://" + g.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "good" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if bad.requests.Load() == 0 {
		t.Fatal("the failing target was never tried")
	}
}

// Bug: pool.max_idle -1 still pooled connections.
func TestMaxIdleMinusOneKeepsNoConnection(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `    pool: { max_idle: -1 }
`+routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	for i := 0; i < 3; i++ {
		rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if d := g.srv.Stats().UpstreamDials; d != 3 {
		t.Fatalf("dials = %d for 3 requests with max_idle -1", d)
	}
}

// Bug: a refused reload had already changed the targets of a running upstream.
func TestRefusedReloadChangesNothing(t *testing.T) {
	c := engine.NewCompiler(policies.Build)
	defer c.Close()
	good, err := config.Parse([]byte(`upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:1" }, { addr: "127.0.0.1:2" } ] } ]
routes: [ { match: { paths: ["/*"] }, upstream: up } ]
`), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.Compile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := config.Parse([]byte(`upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:2" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: response, config: { status: 42 } } ]
`), "bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml:5: routes[0].policies[0].config.status") {
		t.Fatalf("want a refusal with file, line and path, got %v", err)
	}
	if n := snap.Upstream("up").LB().Snapshot().Len(); n != 2 {
		t.Fatalf("the refused config changed the running targets: %d left", n)
	}
}

// Bug: a refused connection was retried even with `on: []`.
func TestConnectFailureNotRetriedWhenRetriesAreOff(t *testing.T) {
	g := startGateway(t, upstreamYAML("{listen}", `    retries: { on: [], statuses: [] }
`+routeAll, freeport.Addr(t), freeport.Addr(t)))
	resp, err := http.Post("http://"+g.addr+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || g.srv.Stats().UpstreamRetries != 0 {
		t.Fatalf("status %d, retries %d", resp.StatusCode, g.srv.Stats().UpstreamRetries)
	}
}

func TestLocalNoContentHasNoBodyOrLength(t *testing.T) {
	g := startGateway(t, `listen: {listen}
workers: 1
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: response, config: { status: 204 } } ]
`)
	rc := dialRaw(t, g.addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _ := io.ReadAtLeast(rc.c, buf, 2*len("HTTP/1.1 204 No Content\r\n\r\n"))
	got := string(buf[:n])
	if strings.Contains(got, "Content-Length") || strings.Count(got, "HTTP/1.1 204 No Content\r\n\r\n") != 2 {
		t.Fatalf("two 204s expected, got %q", got)
	}
}

func TestPerTryTimeoutEndsAnAttemptEarly(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	g := startGateway(t, upstreamYAML("{listen}", `    timeouts: { read: 30s }
    retries: { tries: 1, per_try_timeout: 300ms }
`+routeAll, slow.addr))
	start := time.Now()
	resp, err := http.Get("http://" + g.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("per-try timeout of 300ms took %v", el)
	}
}

func TestCompileErrorsCarryFileAndLine(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:1" } ] } ]
routes:
  - match: { paths: ["/a"] }
%s`, "    policies: [ { name: headers, config: {} } ]\n")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.NewCompiler(policies.Build).Compile(cfg)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:3: routes[0].upstream: required") {
		t.Fatalf("got %v", err)
	}
}

func TestHashBalancerKeepsAKeyOnOneTarget(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	g := startGateway(t, upstreamYAML("{listen}", `    balancer: hash
    hash_on: "header:X-User"
`+routeAll, a.addr, b.addr))
	// 64 keys: that all land on one of two targets has odds of 2^-63.
	checkStickyAndSpread(t, g, 64, "X-User", func(i int) string { return fmt.Sprintf("user-%d", i) })
}

// Bug: hash_on: consumer was accepted and did nothing (the key was always
// empty, so every request went to a random target) after auth policies
// came to identify consumers.
func TestHashBalancerKeepsAConsumerOnOneTarget(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a") })
	b := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	var yml strings.Builder
	yml.WriteString(upstreamYAML("{listen}", "    balancer: hash\n    hash_on: consumer\nconsumers:\n", a.addr, b.addr))
	for i := range 32 {
		id := ""
		if i%2 == 0 {
			id = fmt.Sprintf(", id: ext-%d", i) // hashed by id; the others by name
		}
		fmt.Fprintf(&yml, "  - { name: c%d%s, credentials: { key_auth: [ { key: consumer-key-%04d } ] } }\n", i, id, i)
	}
	yml.WriteString(`routes:
  - name: all
    match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: key-auth } ]
`)
	g := startGateway(t, yml.String())
	// 32 consumers: that all land on one of two targets has odds of 2^-31.
	checkStickyAndSpread(t, g, 32, "apikey", func(i int) string { return fmt.Sprintf("consumer-key-%04d", i) })
}

// checkStickyAndSpread sends each of n keys (value(i) in header) through
// g twice, and fails unless every key's requests reached one target and
// the keys reached both of the two targets, which answer "a" and "b".
func checkStickyAndSpread(t *testing.T, g *gateway, n int, header string, value func(int) string) {
	t.Helper()
	seen := map[string]map[string]bool{}
	for i := 0; i < 2*n; i++ {
		key := value(i % n)
		req, _ := http.NewRequest("GET", "http://"+g.addr+"/", nil)
		req.Header.Set(header, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", key, resp.StatusCode, body)
		}
		if seen[key] == nil {
			seen[key] = map[string]bool{}
		}
		seen[key][string(body)] = true
	}
	targets := map[string]bool{}
	for key, s := range seen {
		if len(s) != 1 {
			t.Fatalf("%s went to %v", key, s)
		}
		for k := range s {
			targets[k] = true
		}
	}
	if len(targets) != 2 {
		t.Fatalf("%d keys all hashed to %v", n, targets)
	}
}

// Idle keep-alive connections must not hold a request context: 50
// connections that each made one request and stay open share one.
func TestIdleConnectionsHoldNoRequestContext(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	for i := 0; i < 50; i++ {
		rc := dialRaw(t, g.addr) // closed at the end of the test: all 50 stay open
		rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := engine.ContextsMade(g.srv); n != 1 {
		t.Fatalf("%d request contexts for 50 idle connections, want 1", n)
	}
}

// Bug: a burst of requests needing more new upstream connections than the
// dial bound got "503 too many upstream connections being opened"; dials
// now wait for a slot.
func TestDialBurstQueuesInsteadOfFailing(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // every request holds its connection
		io.WriteString(w, "ok")
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	const n = 600 // more than maxDialsPerWorker (512)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			resp, err := client.Get("http://" + g.addr + "/")
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("burst of %d: %v", n, err)
	}
}
