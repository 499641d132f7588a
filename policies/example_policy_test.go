package policies

// The policy of docs/policies.md's "Writing a policy", compiled and tested
// here so the example cannot rot.

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
)

type denyHeaderConfig struct {
	Header string `yaml:"header" desc:"the request field to look at"`
	Value  string `yaml:"value" desc:"the value that is refused"`
}

type denyHeader struct {
	header string
	value  []byte
}

func init() { RegisterConfig("deny-header", denyHeaderConfig{}, newDenyHeader) }

func newDenyHeader(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg denyHeaderConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err // strict: file:line: path of the culprit
	}
	if cfg.Header == "" {
		return nil, config.FieldError(spec, "header", "is required")
	}
	return &denyHeader{header: cfg.Header, value: []byte(cfg.Value)}, nil
}

func (p *denyHeader) Priority() int { return 1500 } // higher runs first within a phase

func (p *denyHeader) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

func (p *denyHeader) access(x *engine.Ctx) engine.Status {
	if v, ok := x.Header(p.header); ok && bytes.Equal(v, p.value) {
		x.RespondError(403, "refused by deny-header") // goes through header_filter too
		return engine.Done
	}
	return engine.Continue
}

func TestWritingAPolicyExample(t *testing.T) {
	g := enginetest.New(t, `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: deny-header, config: { header: X-Bot, value: "yes" } }
      - { name: headers, config: { response: { set: { X-Edited: "1" } } } }
`, Build, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	resp := g.Do("GET / HTTP/1.1\r\nHost: a\r\nX-Bot: yes\r\n\r\n")
	if resp.StatusCode != 403 || resp.Header.Get("X-Edited") != "1" {
		t.Fatalf("refused: %d %v", resp.StatusCode, resp.Header)
	}
	resp = g.Do("GET / HTTP/1.1\r\nHost: a\r\nX-Bot: no\r\n\r\n")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("passed: %d %q", resp.StatusCode, body)
	}
	if _, err := newDenyHeader(config.PolicySpec{Name: "deny-header"}, nil); err == nil {
		t.Fatal("a missing header was accepted")
	}
}
