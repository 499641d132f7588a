package engine_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// suspendPolicy proves the Suspend/resume path: its access handler starts
// work on a goroutine, returns Suspend, and the goroutine resumes the
// request on its worker, which then goes on to the next handler.
type suspendPolicy struct {
	delay   time.Duration
	deny    bool
	resumed *atomic.Int64
}

func (p *suspendPolicy) Priority() int { return 500 }
func (p *suspendPolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	c.Add(engine.PhaseAccess, p.after)
	return nil
}

func (p *suspendPolicy) access(x *engine.Ctx) engine.Status {
	r := x.Suspend()
	deny := p.deny
	if v, ok := x.Header("X-Deny"); ok && string(v) == "yes" {
		deny = true
	}
	ok := x.Go(func() {
		time.Sleep(p.delay) // stands for a call to Redis or an auth server
		p.resumed.Add(1)
		if deny {
			r.ResumeStatus(engine.Error)
			return
		}
		r.ResumeStatus(engine.Continue)
	})
	if !ok {
		return engine.Error
	}
	return engine.Suspend
}

// after runs only once the suspended handler resumed with Continue.
func (p *suspendPolicy) after(x *engine.Ctx) engine.Status {
	x.SetRequestHeaderString("X-Resumed", "yes")
	return engine.Continue
}

var suspendResumed atomic.Int64

func init() {
	policies.Register("test-suspend", func(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
		var cfg struct {
			DelayMS int `yaml:"delay_ms"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		return &suspendPolicy{delay: time.Duration(cfg.DelayMS) * time.Millisecond, resumed: &suspendResumed}, nil
	})
}

func TestSuspendingPolicyResumesOnItsWorker(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Saw-Resumed", r.Header.Get("X-Resumed"))
	})
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: test-suspend
        config: { delay_ms: 20 }
`, up.addr))
	before := suspendResumed.Load()
	rc := dialRaw(t, g.addr)
	for i := 0; i < 5; i++ {
		rc.send("GET /s HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, _ := rc.response("GET")
		if resp.StatusCode != 200 || resp.Header.Get("X-Saw-Resumed") != "yes" {
			t.Fatalf("request %d: %d, upstream saw X-Resumed=%q", i, resp.StatusCode, resp.Header.Get("X-Saw-Resumed"))
		}
	}
	rc.send("GET /s HTTP/1.1\r\nHost: a\r\nX-Deny: yes\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 500 || !strings.Contains(body, "policy failed") {
		t.Fatalf("resume with Error: %d %s", resp.StatusCode, body)
	}
	if n := suspendResumed.Load() - before; n != 6 {
		t.Fatalf("resumed %d times, want 6", n)
	}
}

func TestSuspendedRequestWhoseClientLeftIsDropped(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: test-suspend
        config: { delay_ms: 200 }
`, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /gone HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(20 * time.Millisecond)
	rc.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for g.srv.InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the resume arrives after the close
	if n := up.requests.Load(); n != 0 {
		t.Fatalf("a request whose client left was proxied (%d)", n)
	}
	if n := g.srv.InFlight(); n != 0 {
		t.Fatalf("in flight = %d after the client left", n)
	}
}

func TestResponseAndHeadersPolicies(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Internal", "secret")
		w.Header().Set("X-Req-Added", r.Header.Get("X-Added"))
		w.Header().Set("X-Req-Removed", r.Header.Get("X-Remove-Me"))
		w.Write([]byte("upstream"))
	})
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/mock"] }
    policies:
      - name: response
        config: { status: 418, body: "{\"teapot\":true}", content_type: application/json, headers: { X-Mock: "1" } }
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: headers
        config:
          request: { set: { X-Added: "a" }, remove: [X-Remove-Me] }
          response: { set: { X-Gateway: sluice }, remove: [X-Internal] }
`, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /mock HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 418 || body != `{"teapot":true}` || resp.Header.Get("X-Mock") != "1" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("mock: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	rc.send("HEAD /mock HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body = rc.response("HEAD")
	if resp.StatusCode != 418 || body != "" || resp.ContentLength != int64(len(`{"teapot":true}`)) {
		t.Fatalf("HEAD mock: %d %q cl=%d", resp.StatusCode, body, resp.ContentLength)
	}
	rc.send("GET /p HTTP/1.1\r\nHost: a\r\nX-Remove-Me: x\r\n\r\n")
	resp, body = rc.response("GET")
	if body != "upstream" || resp.Header.Get("X-Gateway") != "sluice" || resp.Header.Get("X-Internal") != "" ||
		resp.Header.Get("X-Req-Added") != "a" || resp.Header.Get("X-Req-Removed") != "" {
		t.Fatalf("headers: %q %v", body, resp.Header)
	}
	if up.requests.Load() != 1 {
		t.Fatalf("upstream requests = %d, want 1 (the mock must not proxy)", up.requests.Load())
	}
}

func TestBadPolicyConfigIsRefusedWithItsPath(t *testing.T) {
	cfg, err := config.Parse([]byte(`upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:1" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: response
        config: { status: 99 }
`), "bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.NewCompiler(policies.Build).Compile(cfg)
	if err == nil || !strings.Contains(err.Error(), "routes[0].policies[0].config.status") {
		t.Fatalf("want a path-ful error, got %v", err)
	}
	cfg.Routes.At(0).Policies[0].Name = "nope"
	_, err = engine.NewCompiler(policies.Build).Compile(cfg)
	if err == nil || !strings.Contains(err.Error(), `unknown policy "nope"`) {
		t.Fatalf("unknown policy: %v", err)
	}
}
