package engine_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// fanoutPolicy answers its route with the JSON objects of two sub-requests
// merged (the second one's fields win), or 502 when one failed: the shape
// of the aggregation policy to come, written only against the public API.
type fanoutPolicy struct {
	upstreams []string
	timeout   time.Duration
}

func init() {
	policies.Register("test-fanout", func(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Upstreams []string        `yaml:"upstreams"`
			Timeout   config.Duration `yaml:"timeout"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		return &fanoutPolicy{upstreams: cfg.Upstreams, timeout: cfg.Timeout.Std()}, nil
	})
}

func (p *fanoutPolicy) Priority() int    { return 0 }
func (p *fanoutPolicy) Terminates() bool { return true }
func (p *fanoutPolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseContent, p.content)
	return nil
}

func (p *fanoutPolicy) content(x *engine.Ctx) engine.Status {
	reqs := make([]engine.SubRequest, len(p.upstreams))
	for i, u := range p.upstreams {
		reqs[i] = engine.SubRequest{Upstream: u, Target: "/part?from=" + string(x.Path()), Timeout: p.timeout}
	}
	return x.Subrequests(reqs, func(x *engine.Ctx, resps []engine.SubResponse) engine.Status {
		merged := map[string]any{}
		for i, r := range resps {
			if r.Err != nil || r.Status != 200 {
				msg := "sub-request to " + p.upstreams[i] + " failed"
				if errors.Is(r.Err, engine.ErrNoTarget) {
					msg += ": no target"
				}
				x.RespondError(502, msg)
				return engine.Done
			}
			var part map[string]any
			if err := json.Unmarshal(r.Body, &part); err != nil {
				return engine.Error
			}
			for k, v := range part {
				merged[k] = v
			}
		}
		body, _ := json.Marshal(merged)
		x.Respond(200, []byte("Content-Type: application/json\r\n"), body)
		return engine.Done
	})
}

func TestSubrequestsFanOutAndMerge(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond) // both run at once: the total is not the sum
		w.Write([]byte(`{"user":"alice","from":"` + r.URL.Query().Get("from") + `"}`))
	})
	b := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		w.Write([]byte(`{"orders":3}`))
	})
	g := startGateway(t, `listen: {listen}
workers: 1
upstreams:
  - { name: users, targets: [ { addr: `+a.addr+` } ] }
  - { name: orders, targets: [ { addr: "127.0.0.1:1" }, { addr: `+b.addr+` } ], retries: { tries: 2 } }
routes:
  - match: { paths: ["/both"] }
    policies: [ { name: test-fanout, config: { upstreams: [users, orders] } } ]
  - match: { paths: ["/missing"] }
    policies: [ { name: test-fanout, config: { upstreams: [users, nope] } } ]
`)
	rc := dialRaw(t, g.addr)
	for i := 0; i < 4; i++ { // the dead target of orders is retried on the live one
		rc.send("GET /both HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != `{"from":"/both","orders":3,"user":"alice"}` {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	rc.send("GET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 502 || !strings.Contains(body, "no target") {
		t.Fatalf("unknown upstream: %d %s", resp.StatusCode, body)
	}
	waitInFlight(t, g, 0)
}

func TestSubrequestTimeoutAndClientGone(t *testing.T) {
	slow := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	g := startGateway(t, `listen: {listen}
workers: 1
upstreams:
  - { name: slow, targets: [ { addr: `+slow.addr+` } ], retries: { tries: 1 } }
routes:
  - match: { paths: ["/*"] }
    policies: [ { name: test-fanout, config: { upstreams: [slow], timeout: 200ms } } ]
`)
	rc := dialRaw(t, g.addr)
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 502 {
		t.Fatalf("timed-out sub-request: %d", resp.StatusCode)
	}
	// The client leaves while its sub-request runs: nothing stays in flight.
	rc2 := dialRaw(t, g.addr)
	rc2.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	rc2.c.Close()
	waitInFlight(t, g, 0)
}

type mirrorPolicy struct{}

func init() {
	policies.Register("test-mirror", func(config.PolicySpec, *engine.Env) (engine.Policy, error) { return mirrorPolicy{}, nil })
}

func (mirrorPolicy) Priority() int { return 0 }
func (mirrorPolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
		x.Mirror(engine.SubRequest{Upstream: "shadow", Target: string(x.Target())})
		return engine.Continue
	})
	return nil
}

func TestMirrorDoesNotWaitForTheShadow(t *testing.T) {
	seen := make(chan string, 4)
	shadow := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // a slow shadow must not slow the request
		seen <- r.URL.RequestURI()
	})
	main := startUpstream(t, echoHandler)
	g := startGateway(t, `listen: {listen}
workers: 1
upstreams:
  - { name: up, targets: [ { addr: `+main.addr+` } ] }
  - { name: shadow, targets: [ { addr: `+shadow.addr+` } ] }
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: test-mirror } ]
`)
	rc := dialRaw(t, g.addr)
	start := time.Now()
	rc.send("GET /copy?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	answered := time.Since(start)
	select {
	case uri := <-seen:
		if uri != "/copy?x=1" {
			t.Fatalf("shadow saw %q", uri)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mirror never reached the shadow upstream")
	}
	if answered >= time.Since(start) {
		t.Fatalf("the request was answered after the shadow (%v)", answered)
	}
}
