package policies

import (
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
)

// statusProbe runs proxy-rewrite's handler and keeps what it returned.
type statusProbe struct {
	*proxyRewrite
	got *[]engine.Status
}

func (s statusProbe) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseRewrite, func(x *engine.Ctx) engine.Status {
		st := s.rewrite(x)
		*s.got = append(*s.got, st)
		return st
	})
	return nil
}

// TestProxyRewriteAnswersReturnDone pins the handler contract (Respond,
// then Done): the redirects answered and returned Continue, which the
// engine forgave only because it checks for an answer after Continue.
func TestProxyRewriteAnswersReturnDone(t *testing.T) {
	for _, tc := range []struct {
		name, config, request string
		status                int
	}{
		{"redirect to", `{redirect: {to: "https://new.example{uri}"}}`, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 302},
		{"redirect to https", `{redirect: {https: true}}`, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 301},
		{"https without Host", `{redirect: {https: true}}`, "GET /x HTTP/1.0\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []engine.Status
			build := func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
				p, err := Build(spec, env)
				if pr, ok := p.(*proxyRewrite); ok {
					return statusProbe{pr, &got}, err
				}
				return p, err
			}
			g := enginetest.New(t, `upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: proxy-rewrite, config: `+tc.config+` }
`, build, nil)
			resp := g.Do(tc.request)
			resp.Body.Close()
			if resp.StatusCode != tc.status || len(got) != 1 || got[0] != engine.Done {
				t.Fatalf("answered %d, handler returned %v; want %d and [Done]", resp.StatusCode, got, tc.status)
			}
		})
	}
}
