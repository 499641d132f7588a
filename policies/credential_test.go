package policies_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// templateHeaderTest sets the request field X-Template to its template's
// text, after the auth policies and the limits: what a variable holds once
// they ran.
type templateHeaderTest struct{ t *engine.Template }

func (p templateHeaderTest) Priority() int { return 500 }

func (p templateHeaderTest) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
		v, _ := p.t.Append(nil, x)
		x.SetRequestHeaderString("X-Template", string(v))
		return engine.Continue
	})
	return nil
}

type templateHeaderConfig struct {
	Template string `yaml:"template" desc:"the template"`
}

func init() {
	policies.RegisterConfig("template-header-test", templateHeaderConfig{}, func(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
		var cfg templateHeaderConfig
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		t, err := engine.ParseTemplate(cfg.Template)
		if err != nil {
			return nil, err
		}
		return templateHeaderTest{t}, nil
	})
}

// Issue 15 lists `credential` among the limit keys; until the auth
// policies set it, `key: credential` was refused as an unknown variable.
func TestLimitByCredentialCountsEachKeyApart(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	g := enginetest.New(t, `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
shared_dicts: { limits: 1m }
routes:
  - name: keys
    match: { paths: ["/k"] }
    upstream: up
    policies:
      - name: key-auth
        config: { anonymous: guest }
      - name: limit-count
        config: { count: 1, window: 60s, key: credential, key_missing: skip, dict: limits }
      - name: template-header-test
        config: { template: "[{credential}]" }
  - name: basic
    match: { paths: ["/b"] }
    upstream: up
    policies:
      - name: basic-auth
      - name: template-header-test
        config: { template: "[{credential}]" }
consumers:
  - name: guest
  - name: multi
    credentials:
      key_auth: [ { key: "multi-first-key-0123" }, { key: "multi-second-key-0123" } ]
      basic_auth: [ { username: ops, password_hash: "`+string(hash)+`" } ]
`, policies.Build, authEchoUpstream())

	seen := func(target string, fields ...string) (int, string) {
		t.Helper()
		resp, up, body := get(t, g, target, fields...)
		if resp.StatusCode != 200 {
			return resp.StatusCode, body
		}
		if up == nil {
			t.Fatalf("%s: 200 without the upstream: %s", target, body)
		}
		return 200, up.Header.Get("X-Template")
	}
	st, first := seen("/k", "apikey: multi-first-key-0123")
	if st != 200 || !strings.HasPrefix(first, "[key-auth:") || len(first) != len("[key-auth:]")+32 {
		t.Fatalf("first key: %d, credential %q; want key-auth: and 32 hex digits", st, first)
	}
	if strings.Contains(first, "multi") || strings.Contains(first, "0123") {
		t.Fatalf("the credential's identity %q shows the key", first)
	}
	if st, body := seen("/k", "apikey: multi-first-key-0123"); st != 429 {
		t.Fatalf("first key again: %d %s; want 429 (its own counter of 1 is spent)", st, body)
	}
	st, second := seen("/k", "apikey: multi-second-key-0123")
	if st != 200 || second == first || !strings.HasPrefix(second, "[key-auth:") {
		t.Fatalf("second key of the same consumer: %d, credential %q (first %q); want 200 on a counter of its own", st, second, first)
	}
	// The anonymous consumer has no credential: key_missing: skip lets
	// every such request through, uncounted.
	for i := 0; i < 3; i++ {
		if st, cred := seen("/k"); st != 200 || cred != "[]" {
			t.Fatalf("anonymous request %d: %d, credential %q; want 200 and none", i, st, cred)
		}
	}
	if st, cred := seen("/b", "Authorization: Basic b3BzOnMzY3JldA=="); st != 200 || cred != "[basic-auth:ops]" {
		t.Fatalf("basic auth: %d, credential %q; want [basic-auth:ops]", st, cred)
	}
}
