package engine_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// panicPolicy panics in the phase its config names, when the request has
// X-Panic: yes.
type panicPolicy struct{ phase string }

func init() {
	policies.Register("test-panic", func(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Phase string `yaml:"phase"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		return panicPolicy{cfg.Phase}, nil
	})
}

func (p panicPolicy) Priority() int { return 0 }

func (p panicPolicy) Install(c *engine.ChainBuilder) error {
	panicking := func(x *engine.Ctx) bool { v, _ := x.Header("X-Panic"); return string(v) == "yes" }
	switch p.phase {
	case "access":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			if panicking(x) {
				var m map[string]int
				m["boom"]++ // a nil map write, as a buggy policy would
			}
			return engine.Continue
		})
	case "resumed":
		c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
			if !panicking(x) {
				return engine.Continue
			}
			return x.Offload(func(context.Context) func(*engine.Ctx) engine.Status {
				return func(*engine.Ctx) engine.Status { panic("in the resumed closure") }
			})
		})
	case "header_filter":
		c.Add(engine.PhaseHeaderFilter, func(x *engine.Ctx) engine.Status {
			if panicking(x) {
				panic("in header_filter")
			}
			return engine.Continue
		})
	case "log":
		c.Add(engine.PhaseLog, func(x *engine.Ctx) engine.Status {
			if panicking(x) {
				panic("in log")
			}
			return engine.Continue
		})
	}
	return nil
}

// A policy that panics fails its request, not the gateway: before the
// engine recovered handlers' panics, the first request below ended the
// test process. The request gets a 500 (or, in the log phase, its answer
// as sent) and the next request on the same gateway is served.
func TestPolicyPanicFailsTheRequestNotTheGateway(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, tc := range []struct {
		phase string
		want  int
	}{{"access", 500}, {"resumed", 500}, {"header_filter", 500}, {"log", 200}} {
		t.Run(tc.phase, func(t *testing.T) {
			g := startGateway(t, upstreamYAML("{listen}", `routes:
  - name: all
    match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: test-panic, config: { phase: `+tc.phase+` } } ]
`, up.addr))
			for i, panicking := range []bool{true, false, true, false} {
				req, _ := http.NewRequest("GET", "http://"+g.addr+"/", nil)
				if panicking {
					req.Header.Set("X-Panic", "yes")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := 200
				if panicking {
					want = tc.want
				}
				if resp.StatusCode != want {
					t.Fatalf("request %d (panicking %v): %d %s, want %d", i, panicking, resp.StatusCode, body, want)
				}
			}
		})
	}
}
