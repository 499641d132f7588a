package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// apiPolicy is a test policy written only against the engine's public API.
// Its config names one behaviour (mode); each test below uses one or two.
type apiPolicy struct {
	mode     string
	template *engine.Template
	built    *atomic.Int64
	cleaned  *atomic.Int64
}

var (
	apiBuilt   atomic.Int64
	apiCleaned atomic.Int64
)

func init() {
	policies.Register("test-api", func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Mode     string `yaml:"mode"`
			Template string `yaml:"template"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		p := &apiPolicy{mode: cfg.Mode, built: &apiBuilt, cleaned: &apiCleaned}
		if cfg.Template != "" {
			t, err := engine.ParseTemplate(cfg.Template)
			if err != nil {
				return nil, config.FieldError(spec, "template", err.Error())
			}
			p.template = t
		}
		apiBuilt.Add(1)
		return p, nil
	})
}

func (p *apiPolicy) Priority() int { return 0 }
func (p *apiPolicy) Cleanup()      { p.cleaned.Add(1) }

func (p *apiPolicy) Install(c *engine.ChainBuilder) error {
	switch p.mode {
	case "filter-respond":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			x.Respond(403, []byte("X-Filter: answered\r\n"), []byte("denied by a header filter"))
			return engine.Done
		})
	case "filter-error":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status { return engine.Error })
	case "mark-response":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			v := "upstream"
			if x.IsLocal() {
				v = "local"
			}
			x.SetResponseHeaderString("X-Seen-By-Filter", v)
			return engine.Continue
		})
	case "never-resume":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			x.Suspend()
			return engine.Suspend
		})
	case "suspend-continue":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			r := x.Suspend()
			go func() {
				time.Sleep(50 * time.Millisecond)
				r.ResumeStatus(engine.Continue)
			}()
			return engine.Continue // the bug: Suspend() then Continue
		})
	case "consumer":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			if u, ok := x.Header("X-User"); ok {
				x.SetConsumer(&engine.Consumer{Name: string(u)})
			}
			return engine.Continue
		})
	case "template-header":
		// Runs after "consumer" (content phase): reads what access set.
		c.Add(engine.PhaseContent, func(x *engine.Ctx) engine.Status {
			b, _ := p.template.Append(x.Scratch(), x)
			x.SetRequestHeader([]byte("X-Template"), b)
			x.ScratchDone(b)
			return engine.Continue
		})
	case "body-upper":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			body, st := x.ReadBody(1 << 10)
			if st != engine.Continue {
				return st
			}
			if err := x.SetBody(bytes.ToUpper(body)); err != nil {
				return engine.Error
			}
			return engine.Continue
		})
	case "offload":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			return x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
				select {
				case <-time.After(20 * time.Millisecond):
				case <-ctx.Done():
					return nil
				}
				found := "from-offload"
				return func(x *engine.Ctx) engine.Status {
					x.SetRequestHeaderString("X-Offload", found)
					return engine.Continue
				}
			})
		})
	case "buffer-wrap":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			x.BufferResponse(1 << 20)
			return engine.Continue
		})
		c.Add(engine.PhaseBodyFilter, func(x *engine.Ctx) engine.Status {
			if x.BodyEnd() {
				x.SetBodyChunk(append([]byte("wrapped:"), x.BodyChunk()...))
			}
			return engine.Continue
		})
	case "stream-upper":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			if _, ok := x.Arg("plain"); !ok {
				x.FilterBody()
			}
			return engine.Continue
		})
		c.Add(engine.PhaseBodyFilter, func(x *engine.Ctx) engine.Status {
			x.SetBodyChunk(bytes.ToUpper(x.BodyChunk()))
			return engine.Continue
		})
	case "delay":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			if _, ok := x.Header("X-Delay"); !ok {
				return engine.Continue
			}
			return x.Delay(500 * time.Millisecond)
		})
	case "replace-body":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			x.ReplaceResponseBody([]byte("replaced"))
			return engine.Continue
		})
	case "nothing":
	default:
		return fmt.Errorf("unknown mode %q", p.mode)
	}
	return nil
}

func apiRoute(modes ...string) string {
	var b strings.Builder
	b.WriteString("routes:\n  - name: r\n    match: { paths: [\"/*\"] }\n    upstream: up\n    policies:\n")
	for i, m := range modes {
		fmt.Fprintf(&b, "      - name: test-api\n        id: p%d\n        config: { mode: %s }\n", i, m)
	}
	return b.String()
}

func TestRegressionHeaderFilterRespondDoesNotCrash(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("from upstream")) })
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("filter-respond", "mark-response"), up.addr))
	rc := dialRaw(t, g.addr)
	for i := 0; i < 3; i++ { // the same connection goes on after each local answer
		rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 403 || body != "denied by a header filter" || resp.Header.Get("X-Filter") != "answered" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, resp.Header)
		}
		// The filters after the one that answered see the local answer.
		if v := resp.Header.Get("X-Seen-By-Filter"); v != "local" {
			t.Fatalf("later filter saw %q, want local", v)
		}
	}
	waitInFlight(t, g, 0)
}

func TestRegressionHeaderFilterErrorIs500(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("from upstream")) })
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("filter-error"), up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 500 || !strings.Contains(body, `"request_id"`) {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestRegressionSuspendedRequestTimesOut(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", "client: { header_timeout: 300ms }\n"+apiRoute("never-resume"), up.addr))
	rc := dialRaw(t, g.addr)
	start := time.Now()
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 504 || !strings.Contains(body, "policy timed out") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	waitInFlight(t, g, 0)
}

func TestRegressionSuspendThenContinueDoesNotProxyTwice(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("suspend-continue"), up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, _ := rc.response("GET")
	if resp.StatusCode != 500 {
		t.Fatalf("got %d, want 500 for Suspend() followed by Continue", resp.StatusCode)
	}
	time.Sleep(200 * time.Millisecond) // the late Resume arrives
	rc.send("GET /y HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 500 {
		t.Fatalf("second request: %d", resp.StatusCode)
	}
	time.Sleep(200 * time.Millisecond)
	if n := up.requests.Load(); n != 0 {
		t.Fatalf("upstream got %d requests; a stale Resume re-entered the chain", n)
	}
	waitInFlight(t, g, 0)
}

func TestLocalAnswersPassHeaderFilters(t *testing.T) {
	g := startGateway(t, upstreamYAML("{listen}", `shared_dicts: { limits: 1MiB }
routes:
  - name: r
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: test-api
        config: { mode: mark-response }
      - name: headers
        config: { response: { set: { X-Edited: "yes" } } }
      - name: limit-count
        config: { count: 1, window: 1h, key: route }
`, "127.0.0.1:1"))
	rc := dialRaw(t, g.addr)
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n") // passes the limit, upstream down: 502
	resp, _ := rc.response("GET")
	if resp.StatusCode != 502 || resp.Header.Get("X-Seen-By-Filter") != "local" || resp.Header.Get("X-Edited") != "yes" {
		t.Fatalf("502: %d %v", resp.StatusCode, resp.Header)
	}
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n") // over the limit: 429 made by a policy
	resp, _ = rc.response("GET")
	if resp.StatusCode != 429 || resp.Header.Get("X-Seen-By-Filter") != "local" || resp.Header.Get("X-Edited") != "yes" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("429: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestConsumerAndTemplatesAcrossPolicies(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Got", r.Header.Get("X-Template"))
	})
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - name: r
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: test-api
        id: auth
        config: { mode: consumer }
      - name: test-api
        id: tpl
        config: { mode: template-header, template: "{consumer}:{arg_page}:{http_x_tenant}:{{lit}}" }
`, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /x?page=7 HTTP/1.1\r\nHost: a\r\nX-User: alice\r\nX-Tenant: acme\r\n\r\n")
	resp, _ := rc.response("GET")
	if got := resp.Header.Get("X-Got"); got != "alice:7:acme:{lit}" {
		t.Fatalf("template gave %q", got)
	}
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n") // nothing set: the values of the last request are gone
	resp, _ = rc.response("GET")
	if got := resp.Header.Get("X-Got"); got != ":::{lit}" {
		t.Fatalf("template without values gave %q", got)
	}
}

func TestReadBodyAndSetBody(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-CL", fmt.Sprint(r.ContentLength))
		w.Write(b)
	})
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("body-upper"), up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
	resp, body := rc.response("POST")
	if resp.StatusCode != 200 || body != "HELLO" || resp.Header.Get("X-CL") != "5" {
		t.Fatalf("length body: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// Chunked, in pieces: the body is held whole and sent with a length.
	rc.send("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc")
	time.Sleep(30 * time.Millisecond)
	rc.send("\r\n2\r\nde\r\n0\r\n\r\n")
	resp, body = rc.response("POST")
	if resp.StatusCode != 200 || body != "ABCDE" || resp.Header.Get("X-CL") != "5" {
		t.Fatalf("chunked body: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// Over the policy's cap: 413, and the connection closes (the rest is unread).
	rc.send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n")
	if resp, _ := rc.response("POST"); resp.StatusCode != 413 {
		t.Fatalf("big body: %d", resp.StatusCode)
	}
	// A GET without a body goes through.
	rc2 := dialRaw(t, g.addr)
	rc2.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc2.response("GET"); resp.StatusCode != 200 || body != "" {
		t.Fatalf("no body: %d %q", resp.StatusCode, body)
	}
}

func TestOffloadResumesWithAClosure(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Got", r.Header.Get("X-Offload"))
	})
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("offload"), up.addr))
	rc := dialRaw(t, g.addr)
	for i := 0; i < 5; i++ {
		rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.Header.Get("X-Got") != "from-offload" {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
	}
}

func TestBufferedAndStreamedBodyFilters(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") != "" {
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
		w.Write([]byte("part two"))
	})
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("buffer-wrap"), up.addr))
	rc := dialRaw(t, g.addr)
	for _, q := range []string{"", "?chunked=1"} {
		rc.send("GET /x" + q + " HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := rc.response("GET")
		want := "wrapped:part two"
		if q != "" {
			want = "wrapped:part one, part two"
		}
		if body != want || resp.ContentLength != int64(len(want)) {
			t.Fatalf("buffered %q: %q cl=%d %v", q, body, resp.ContentLength, resp.TransferEncoding)
		}
	}
	g2 := startGateway(t, upstreamYAML("{listen}", apiRoute("stream-upper"), up.addr))
	rc2 := dialRaw(t, g2.addr)
	rc2.send("GET /x?chunked=1 HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc2.response("GET")
	if body != "PART ONE, PART TWO" || len(resp.TransferEncoding) != 1 {
		t.Fatalf("streamed: %q %v", body, resp.TransferEncoding)
	}
	rc2.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n") // keep-alive goes on after a re-chunked body
	if _, body := rc2.response("GET"); body != "PART TWO" {
		t.Fatalf("streamed, second: %q", body)
	}
	// A response the header filter did not ask to filter is relayed as it came.
	rc2.send("GET /x?plain=1 HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc2.response("GET"); body != "part two" || resp.ContentLength != 8 {
		t.Fatalf("unfiltered: %q cl=%d", body, resp.ContentLength)
	}
	// A replaced body: sent at once with its length, the upstream's dropped.
	g3 := startGateway(t, upstreamYAML("{listen}", apiRoute("replace-body"), up.addr))
	rc3 := dialRaw(t, g3.addr)
	for _, q := range []string{"", "?chunked=1", ""} {
		rc3.send("GET /x" + q + " HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, body := rc3.response("GET"); body != "replaced" || resp.ContentLength != 8 {
			t.Fatalf("replaced %q: %q cl=%d", q, body, resp.ContentLength)
		}
	}
	if n := up.conns.Load(); n > 3 {
		t.Fatalf("%d upstream connections: a dropped body should leave the connection reusable", n)
	}
}

func TestGlobalPoliciesBuiltOnceAndCleanedUpWhenRetired(t *testing.T) {
	up := startUpstream(t, echoHandler)
	yml := upstreamYAML("{listen}", `global_policies:
  - name: test-api
    config: { mode: nothing }
routes:
  - { name: a, match: { paths: ["/a"] }, upstream: up }
  - { name: b, match: { paths: ["/b"] }, upstream: up }
  - { name: c, match: { paths: ["/c"] }, upstream: up }
`, up.addr)
	built, cleaned := apiBuilt.Load(), apiCleaned.Load()
	g := startGateway(t, yml)
	if n := apiBuilt.Load() - built; n != 1 {
		t.Fatalf("global policy built %d times for 3 routes, want 1", n)
	}
	resp, err := http.Get("http://" + g.addr + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	g.reload(t, yml)
	deadline := time.Now().Add(10 * time.Second)
	for apiCleaned.Load() == cleaned && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := apiCleaned.Load() - cleaned; n != 1 {
		t.Fatalf("retired snapshot's policy cleaned up %d times, want 1", n)
	}
}

func TestRegressionLimitCountSurvivesReorderingRoutes(t *testing.T) {
	up := startUpstream(t, echoHandler)
	routes := func(first, second string) string {
		return upstreamYAML("{listen}", `shared_dicts: { limits: 1MiB }
routes:
`+first+second, up.addr)
	}
	limited := `  - name: limited
    match: { paths: ["/l"] }
    upstream: up
    policies: [ { name: limit-count, config: { count: 2, window: 1h, key: route } } ]
`
	other := `  - name: other
    match: { paths: ["/o"] }
    upstream: up
`
	g := startGateway(t, routes(limited, other))
	get := func() int {
		resp, err := http.Get("http://" + g.addr + "/l")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b := get(), get(); a != 200 || b != 200 {
		t.Fatalf("first two: %d %d", a, b)
	}
	g.reload(t, routes(other, limited)) // the route moves from routes[0] to routes[1]
	if s := get(); s != 429 {
		t.Fatalf("after reordering: %d, want 429 (the counter must follow the route)", s)
	}
}

func TestRegressionDuplicatePolicyWithoutIDIsRefused(t *testing.T) {
	_, err := config.Parse([]byte(`shared_dicts: { limits: 1MiB }
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:1" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: limit-count, config: { count: 1, window: 1s } }
      - { name: limit-count, config: { count: 100, window: 1h } }
`), "dup.yaml")
	if err == nil || !strings.Contains(err.Error(), "routes[0].policies[1].id") {
		t.Fatalf("want an error asking for an id, got %v", err)
	}
}

func TestRegressionRequestsAreCounted(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("nothing"), up.addr))
	before := g.srv.Stats().Requests
	for i := 0; i < 3; i++ {
		resp, err := http.Get("http://" + g.addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := g.srv.Stats().Requests - before; n != 3 {
		t.Fatalf("Stats.Requests counted %d of 3", n)
	}
}

func TestRegressionPickerSlotsDoNotGrowWithReloads(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("nothing"), up.addr))
	for i := 0; i < 20; i++ {
		// A balancing change makes a new lb group each time.
		g.reload(t, strings.Replace(upstreamYAML("{listen}", apiRoute("nothing"), up.addr),
			"    targets:", fmt.Sprintf("    retries: { tries: %d }\n    targets:", 1+i%2), 1))
		resp, err := http.Get("http://" + g.addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := engine.GroupIDs(g.compiler); n > 3 {
		t.Fatalf("%d group ids handed out for one upstream over 20 reloads", n)
	}
}

func waitInFlight(t *testing.T, g *gateway, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.srv.InFlight() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := g.srv.InFlight(); n != want {
		t.Fatalf("in flight = %d, want %d", n, want)
	}
}

func TestDelayWaitsOnTheWorkersTimer(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", apiRoute("delay"), up.addr))
	order := make(chan string, 2)
	start := time.Now()
	go func() {
		rc := dialRaw(t, g.addr)
		rc.send("GET /slow HTTP/1.1\r\nHost: a\r\nX-Delay: 1\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode == 200 {
			order <- "delayed"
		} else {
			order <- "delayed failed"
		}
	}()
	time.Sleep(50 * time.Millisecond)
	rc := dialRaw(t, g.addr) // the one worker serves others meanwhile
	rc.send("GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode == 200 {
		order <- "fast"
	}
	if first, second := <-order, <-order; first != "fast" || second != "delayed" {
		t.Fatalf("order %s, %s", first, second)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("delayed request done after %v", d)
	}
}

// A request that matches no route gets the global policies' response
// filters on its 404 (here a header edit and the filter that marks local
// answers), and no route's.
func TestNoRouteGetsGlobalResponseFilters(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `global_policies:
  - name: headers
    config: { response: { set: { X-Global: "1" } } }
  - name: test-api
    config: { mode: mark-response }
routes:
  - name: only
    match: { paths: ["/only"] }
    upstream: up
    policies:
      - name: headers
        config: { response: { set: { X-Route: "1" } } }
`, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /elsewhere HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 404 || !strings.Contains(body, "no route matched") ||
		resp.Header.Get("X-Global") != "1" || resp.Header.Get("X-Seen-By-Filter") != "local" || resp.Header.Get("X-Route") != "" {
		t.Fatalf("404: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	rc.send("GET /only HTTP/1.1\r\nHost: a\r\n\r\n") // the connection goes on
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 || resp.Header.Get("X-Route") != "1" || resp.Header.Get("X-Global") != "1" {
		t.Fatalf("routed: %d %v", resp.StatusCode, resp.Header)
	}
}

// A stopping gateway gives the policies in force their Cleanup (limit
// leases go back to Redis), once, after the drain.
func TestReleasePoliciesCleansUpTheVersionInForceOnce(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `global_policies:
  - { name: test-api, config: { mode: nothing } }
routes:
  - { name: a, match: { paths: ["/a"] }, upstream: up, policies: [ { name: test-api, config: { mode: nothing } } ] }
`, up.addr))
	cleaned := apiCleaned.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := apiCleaned.Load() - cleaned; n != 0 {
		t.Fatalf("%d policies cleaned up by Shutdown alone", n)
	}
	g.srv.ReleasePolicies()
	g.srv.ReleasePolicies()
	if n := apiCleaned.Load() - cleaned; n != 2 {
		t.Fatalf("%d policies cleaned up, want the global and the route's: 2", n)
	}
}
