package config

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const quickstart = "../examples/quickstart.yaml"

// headersConfig and responseConfig mirror the configs of the "headers" and
// "response" policies, to check that the quickstart's policy configs decode.
type headerEdits struct {
	Set    map[string]string `yaml:"set"`
	Add    map[string]string `yaml:"add"`
	Remove []string          `yaml:"remove"`
}

type headersConfig struct {
	Request  headerEdits `yaml:"request"`
	Response headerEdits `yaml:"response"`
}

type responseConfig struct {
	Status  int               `yaml:"status"`
	Body    string            `yaml:"body"`
	Headers map[string]string `yaml:"headers"`
}

// TestQuickstart checks the parts of examples/quickstart.yaml the README
// relies on (the demo upstream, the echo route with its headers policy, the
// hello route answered by the gateway), found by name: the example grows
// as features land without this test pinning its exact shape.
func TestQuickstart(t *testing.T) {
	cfg, err := Load(quickstart)
	if err != nil {
		t.Fatal(err)
	}
	var demo *Upstream
	for i := range cfg.Upstreams {
		if cfg.Upstreams[i].Name == "demo" {
			demo = &cfg.Upstreams[i]
		}
	}
	if demo == nil || !reflect.DeepEqual(demo.Targets, []Target{{Addr: "127.0.0.1:9000", Weight: 1}}) {
		t.Fatalf("upstreams = %+v", cfg.Upstreams)
	}
	route := func(name string) (*Route, int) {
		for i := range cfg.Routes.Len() {
			if cfg.Routes.At(i).Name == name {
				return cfg.Routes.At(i), i
			}
		}
		t.Fatalf("no route %q in %+v", name, cfg.Routes)
		return nil, 0
	}
	policy := func(r *Route, name string) (PolicySpec, int) {
		for i, p := range r.Policies {
			if p.Name == name {
				return p, i
			}
		}
		t.Fatalf("route %q has no %s policy: %+v", r.Name, name, r.Policies)
		return PolicySpec{}, 0
	}
	echo, _ := route("echo")
	if !reflect.DeepEqual(echo.Match.Paths, []string{"/echo/*"}) || echo.Upstream != "demo" {
		t.Fatalf("echo route = %+v", echo)
	}
	var h headersConfig
	hp, _ := policy(echo, "headers")
	if err := DecodePolicyConfig(hp, &h); err != nil {
		t.Fatal(err)
	}
	if h.Response.Set["X-Sluice"] != "quickstart" {
		t.Fatalf("headers policy = %+v", h)
	}
	hello, hi := route("hello")
	if !reflect.DeepEqual(hello.Match.Paths, []string{"/hello"}) || hello.Upstream != "" {
		t.Fatalf("hello route = %+v", hello)
	}
	rp, pi := policy(hello, "response")
	var r responseConfig
	if err := DecodePolicyConfig(rp, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || r.Body != "hello from sluice\n" {
		t.Fatalf("response policy = %+v", r)
	}
	if want := fmt.Sprintf("routes[%d].policies[%d]", hi, pi); rp.File != quickstart || rp.Path != want || rp.Line == 0 {
		t.Fatalf("policy spec location = %q %q %d, want path %q", rp.File, rp.Path, rp.Line, want)
	}
}

// TestQuickstartRoundTrip marshals the loaded quickstart back to YAML and
// parses it again: the result must be the same configuration, and
// marshalling it again must give the same bytes.
func TestQuickstartRoundTrip(t *testing.T) {
	cfg, err := Load(quickstart)
	if err != nil {
		t.Fatal(err)
	}
	out1, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out1, "roundtrip.yaml")
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out1)
	}
	out2, err := yaml.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out1, out2) {
		t.Fatalf("round trip changed the configuration:\n%s\n---\n%s", out1, out2)
	}
	if !reflect.DeepEqual(comparable(cfg), comparable(again)) {
		t.Fatalf("round trip changed the decoded values:\n%+v\n%+v", cfg, again)
	}
}

// comparable strips what legitimately differs between two parses of the
// same configuration: sources, and the positions inside policy configs.
func comparable(c *Config) Config {
	out := *c
	out.src, out.revs = nil, nil
	var routes []*Route
	for _, r := range c.Routes.All() {
		cp := *r
		cp.Policies = stripSpecs(r.Policies)
		routes = append(routes, &cp)
	}
	out.Routes = Routes(routes...)
	out.GlobalPolicies = stripSpecs(c.GlobalPolicies)
	out.Consumers = append([]Consumer(nil), c.Consumers...)
	for i := range out.Consumers {
		out.Consumers[i].Policies = stripSpecs(out.Consumers[i].Policies)
	}
	return out
}

func stripSpecs(specs []PolicySpec) []PolicySpec {
	if len(specs) == 0 {
		return nil
	}
	out := make([]PolicySpec, len(specs))
	for i, s := range specs {
		var v any
		if err := s.Config.Decode(&v); err != nil {
			panic(err)
		}
		b, _ := yaml.Marshal(v)
		out[i] = PolicySpec{Name: s.Name, Path: s.Path, Config: yaml.Node{Value: string(b)}}
	}
	return out
}

func TestDefaults(t *testing.T) {
	for _, input := range []string{"", "# nothing\n", "{}\n"} {
		cfg, err := Parse([]byte(input), "empty.yaml")
		if err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		want := Config{
			Listen:       ":8080",
			DrainTimeout: Duration(30 * time.Second),
			LogLevel:     "info",
			LogFormat:    "text",
			Client: Client{
				HeaderTimeout:    Duration(10 * time.Second),
				BodyTimeout:      Duration(60 * time.Second),
				KeepaliveTimeout: Duration(75 * time.Second),
				PolicyTimeout:    Duration(10 * time.Second),
				MaxHeadBytes:     16 << 10,
				MaxFields:        100,
			},
			ConfigSource: ConfigSource{Type: SourceFile},
		}
		if got := comparable(cfg); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", input, got, want)
		}
	}
}

func TestUpstreamDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
upstreams:
  - name: u
    targets: [{addr: "[::1]:80"}, {addr: "backend.internal:8080", weight: 5}]
    health:
      active: {}
routes:
  - match: {paths: [/a/*]}
    upstream: u
    strip_prefix: true
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Upstream{
		Name:     "u",
		Targets:  []Target{{Addr: "[::1]:80", Weight: 1}, {Addr: "backend.internal:8080", Weight: 5}},
		Balancer: BalancerRoundRobin,
		Pool:     Pool{MaxIdle: 64, IdleTimeout: Duration(time.Minute), MaxRequests: 1000},
		Timeouts: Timeouts{Connect: Duration(5 * time.Second), Send: Duration(time.Minute), Read: Duration(time.Minute)},
		Retries:  Retries{Tries: 2, On: []string{"connect", "timeout", "error"}, Statuses: []int{502, 503, 504}, Budget: 0.2},
		Health: Health{
			Passive: Passive{MaxFails: 1, FailTimeout: Duration(10 * time.Second)},
			Active: &Active{Type: "http", Path: "/healthz", Interval: Duration(5 * time.Second), Timeout: Duration(time.Second),
				Statuses: []int{200}, Healthy: 2, Unhealthy: 3},
			MaxEjectedPercent: 50,
			PanicThreshold:    0.5,
		},
	}
	if !reflect.DeepEqual(cfg.Upstreams[0], want) {
		t.Fatalf("\n got %+v\nwant %+v", cfg.Upstreams[0], want)
	}
	if r := cfg.Routes.At(0); r.Name != "routes[0]" || r.Host != HostPass || !r.StripPrefix {
		t.Fatalf("route defaults: %+v", r)
	}
}

func TestExplicitEmptyListsAndOff(t *testing.T) {
	cfg, err := Parse([]byte(`
upstreams:
  - name: u
    targets: [{addr: "a:1"}]
    retries: {on: [], statuses: []}
    pool: {max_idle: -1, max_requests: -1}
    health:
      passive: {max_fails: -1}
      active: ~
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Upstreams[0]
	if u.Retries.On == nil || len(u.Retries.On) != 0 || u.Retries.Statuses == nil || len(u.Retries.Statuses) != 0 {
		t.Fatalf("explicit empty lists were defaulted: %+v", u.Retries)
	}
	if u.Pool.MaxIdle != -1 || u.Pool.MaxRequests != -1 || u.Health.Passive.MaxFails != -1 || u.Health.Active != nil {
		t.Fatalf("off values: %+v %+v", u.Pool, u.Health)
	}
}

func TestMergeKeysAndAnchors(t *testing.T) {
	cfg, err := Parse([]byte(`
upstreams:
  - &base
    name: a
    targets: [{addr: "a:1"}]
    timeouts: &t {connect: 2s, read: 3s}
    balancer: least_conn
  - <<: *base
    name: b
    balancer: p2c
  - name: c
    targets: [{addr: "c:1"}]
    timeouts: *t
    <<: [{balancer: hash, hash_on: ip}, {balancer: ewma, hash_on: uri, pool: {max_idle: 3}}]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := cfg.Upstreams[0], cfg.Upstreams[1], cfg.Upstreams[2]
	if b.Name != "b" || b.Balancer != "p2c" || b.Timeouts != a.Timeouts || b.Targets[0].Addr != "a:1" {
		t.Fatalf("merged upstream b = %+v", b)
	}
	// Of several merge sources the first wins, key by key.
	if c.Balancer != "hash" || c.HashOn != "ip" || c.Pool.MaxIdle != 3 {
		t.Fatalf("merged upstream c = %+v", c)
	}
	if time.Duration(c.Timeouts.Connect) != 2*time.Second {
		t.Fatalf("alias not followed: %+v", c.Timeouts)
	}
}

// TestValidateGoBuilt checks Validate on a Config built in Go: defaults are
// filled, errors carry paths without lines, and a second call is a no-op.
func TestValidateGoBuilt(t *testing.T) {
	cfg := &Config{
		Upstreams: []Upstream{{Name: "u", Targets: []Target{{Addr: "10.0.0.1:80"}}}},
		Routes: Routes(
			&Route{Match: Match{Paths: []string{"/a"}}, Upstream: "u", Policies: []PolicySpec{{Name: "cors"}}},
		),
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Upstreams[0].Targets[0].Weight != 1 || cfg.Routes.At(0).Name != "routes[0]" || cfg.Routes.At(0).Policies[0].Path != "routes[0].policies[0]" {
		t.Fatalf("defaults not filled: %+v", cfg)
	}
	before, _ := yaml.Marshal(cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if after, _ := yaml.Marshal(cfg); !bytes.Equal(before, after) {
		t.Fatal("Validate is not idempotent")
	}
	cfg.Routes = cfg.Routes.Append(&Route{Upstream: "missing"})
	err := cfg.Validate()
	if err == nil || err.Error() != `routes[1].upstream: unknown upstream "missing"` {
		t.Fatalf("got %v", err)
	}
	var list Errors
	if !errors.As(err, &list) || list[0].Line != 0 || list[0].Path != "routes[1].upstream" {
		t.Fatalf("error fields: %#v", list)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("want the os error, got %v", err)
	}
}

// TestExamples loads every example configuration.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		cfg, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := cfg.RouteTable(); err != nil {
			t.Errorf("%s: RouteTable: %v", f, err)
		}
	}
}

func TestErrorAt(t *testing.T) {
	cfg, err := Parse([]byte("routes:\n  - name: a\n    match: {paths: [/a]}\n"), "e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.ErrorAt("routes[0].upstream", "required: no upstream and no policy that answers the request itself")
	if got := err.Error(); got != "e.yaml:2: routes[0].upstream: required: no upstream and no policy that answers the request itself" {
		t.Fatalf("got %s", got)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatal("ErrorAt must wrap ErrInvalid")
	}
	if got := (&Config{}).ErrorAt("routes[0]", "bad").Error(); got != "routes[0]: bad" {
		t.Fatalf("built in Go: %s", got)
	}
}

// Routes are pointers (an edit copies 8 bytes per route, not the routes):
// an empty list item decodes as nil, which must be an error, not a crash.
func TestRegressionEmptyRouteItemIsAnError(t *testing.T) {
	for _, y := range []string{"routes: [~]\n", "routes:\n  -\n", "upstreams: [{name: u, targets: [{addr: \"10.0.0.1:80\"}]}]\nconsumers: [{name: c}]\nroutes: [{match: {paths: [\"/a\"]}, upstream: u}, null]\n"} {
		_, err := Parse([]byte(y), "n.yaml")
		if err == nil || !strings.Contains(err.Error(), "is empty: a route needs at least a match") {
			t.Errorf("%q: %v", y, err)
		}
	}
}
