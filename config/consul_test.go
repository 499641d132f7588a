package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example of issue 13, as written.
const consulIssueExample = `consul:
  address: 127.0.0.1:8500          # token / token_file, datacenter, tls optional
  dump_dir: /var/lib/sluice/consul # last known state, for a start while Consul is down
upstreams:
  - name: test
    discovery: { type: consul_kv, key: upstreams/test }   # nginx-upsync's KV layout
  - name: users
    discovery: { type: consul, service: users, tag: v2 }  # catalog, passing instances only
`

func TestConsulIssueExampleAccepted(t *testing.T) {
	cfg, err := Parse([]byte(consulIssueExample), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Consul
	if c == nil || c.Address != "127.0.0.1:8500" || c.DumpDir != "/var/lib/sluice/consul" ||
		c.Wait.Std() != 60*time.Second || c.StartTimeout.Std() != 5*time.Second || c.RateLimit != 10 || c.RetryMax.Std() != 30*time.Second {
		t.Fatalf("consul section %v wait=%s start=%s rate=%d retry=%s", c, c.Wait, c.StartTimeout, c.RateLimit, c.RetryMax)
	}
	kv, cat := cfg.Upstreams[0].Discovery, cfg.Upstreams[1].Discovery
	if *kv != (Discovery{Type: DiscoveryConsulKV, Key: "upstreams/test"}) || *cat != (Discovery{Type: DiscoveryConsul, Service: "users", Tag: "v2"}) {
		t.Fatalf("discovery %+v %+v", kv, cat)
	}
	if len(cfg.Upstreams[0].Targets) != 0 {
		t.Fatalf("targets %v", cfg.Upstreams[0].Targets)
	}
}

func TestConsulTokenFileReadAndNeverPrinted(t *testing.T) {
	const secret = "c0nsul-t0ken"
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte("consul:\n  token_file: "+f+"\n  datacenter: dc2\n  tls: {ca_file: /etc/ca.pem}\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Consul.AuthToken() != secret || cfg.Consul.Address != "127.0.0.1:8500" || cfg.Consul.TLS.CAFile != "/etc/ca.pem" {
		t.Fatalf("got %v", cfg.Consul)
	}
	cfg, _ = Parse([]byte("consul:\n  token: "+secret+"\n"), "c.yaml")
	if s := cfg.Consul.String(); strings.Contains(s, secret) {
		t.Fatalf("String leaks the token: %s", s)
	}
}

func TestConsulAndDiscoveryErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"discovery without consul section",
			"upstreams:\n  - name: a\n    discovery: {type: consul_kv, key: upstreams/a}\n",
			"c.yaml:3: upstreams[0].discovery: needs the top-level consul section"},
		{"unknown type",
			"consul: {}\nupstreams:\n  - name: a\n    discovery: {type: dns, key: a}\n",
			"c.yaml:4: upstreams[0].discovery.type: must be one of consul_kv, consul; got \"dns\""},
		{"consul_kv without key",
			"consul: {}\nupstreams:\n  - name: a\n    discovery: {type: consul_kv}\n",
			"c.yaml:4: upstreams[0].discovery.key: is required by consul_kv"},
		{"consul_kv key with trailing slash",
			"consul: {}\nupstreams:\n  - name: a\n    discovery: {type: consul_kv, key: upstreams/a/}\n",
			"upstreams[0].discovery.key: is required by consul_kv"},
		{"consul_kv with service",
			"consul: {}\nupstreams:\n  - name: a\n    discovery: {type: consul_kv, key: k, service: s}\n",
			"c.yaml:4: upstreams[0].discovery.service: is only used by type consul"},
		{"consul without service",
			"consul: {}\nupstreams:\n  - name: a\n    discovery: {type: consul, tag: v2}\n",
			"c.yaml:4: upstreams[0].discovery.service: is required by type consul"},
		{"no targets and no discovery",
			"upstreams:\n  - name: a\n",
			"upstreams[0].targets: at least one target is required"},
		{"token and token_file",
			"consul: {token: x, token_file: /nope}\n",
			"c.yaml:1: consul.token_file: is exclusive with token"},
		{"bad address",
			"consul: {address: nope}\n",
			"consul.address: must be host:port"},
		{"wait too short",
			"consul: {wait: 10ms}\n",
			"consul.wait: must be between 1s and 10m"},
		{"rate limit",
			"consul: {rate_limit: 5000}\n",
			"consul.rate_limit: must be between 1 and 1000"},
		{"cert without key",
			"consul: {tls: {cert_file: /c.pem}}\n",
			"consul.tls.cert_file: cert_file and key_file go together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "c.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDiscoveryUpstreamMayKeepStaticTargets(t *testing.T) {
	cfg, err := Parse([]byte("consul: {}\nupstreams:\n  - name: a\n    targets: [{addr: 127.0.0.1:9000}]\n    discovery: {type: consul, service: a, filter: 'Service.Meta.zone == \"a\"', allow_empty: true, required: true}\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Upstreams[0].Discovery
	if len(cfg.Upstreams[0].Targets) != 1 || !d.AllowEmpty || !d.Required || d.Filter != `Service.Meta.zone == "a"` {
		t.Fatalf("got %+v %+v", cfg.Upstreams[0].Targets, d)
	}
}
