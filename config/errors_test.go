package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/shm"
)

// TestParseErrors pins every kind of error message: its line, its path and
// its wording. want lists the whole error, one line per problem.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string
	}{
		{
			name: "unknown upstream",
			yaml: `
upstreams:
  - name: accounts
    targets: [{addr: "127.0.0.1:9000"}]
routes:
  - match: {paths: [/a]}
    upstream: accounts
  - match: {paths: [/b]}
    upstream: accounts
  - match: {paths: [/c]}
    upstream: users
`,
			want: `t.yaml:11: routes[2].upstream: unknown upstream "users"`,
		},
		{
			name: "explicit zero weight",
			yaml: `
upstreams:
  - name: users
    targets:
      - addr: 10.0.0.1:80
      - addr: 10.0.0.2:80
        weight: 0
`,
			want: `t.yaml:7: upstreams[0].targets[1].weight: must be between 1 and 1000, got 0`,
		},
		{
			name: "weight too large",
			yaml: "upstreams:\n  - name: u\n    targets: [{addr: \"a:1\", weight: 1001}]\n",
			want: `t.yaml:3: upstreams[0].targets[0].weight: must be between 1 and 1000, got 1001`,
		},
		{
			name: "unknown field with suggestion",
			yaml: "client:\n  header_timout: 5s\n",
			want: `t.yaml:2: client: unknown field "header_timout" (did you mean "header_timeout"?)`,
		},
		{
			name: "unknown top-level field without suggestion",
			yaml: "listen: :80\nfrobnicate: true\n",
			want: `t.yaml:2: unknown field "frobnicate"`,
		},
		{
			name: "bad duration",
			yaml: "drain_timeout: 30\n",
			want: `t.yaml:1: drain_timeout: must be a duration like "5s", "1m30s" or "250ms", got "30"`,
		},
		{
			name: "negative duration",
			yaml: "upstreams:\n  - name: u\n    targets: [{addr: \"a:1\"}]\n    timeouts: {connect: -1s}\n",
			want: `t.yaml:4: upstreams[0].timeouts.connect: must not be negative, got "-1s"`,
		},
		{
			name: "bad size",
			yaml: "shared_dicts:\n  limits: 10 parsecs\n",
			want: `t.yaml:2: shared_dicts.limits: must be a size like "10MiB", "512KiB", "1m" or a number of bytes, got "10 parsecs"`,
		},
		{
			name: "zero shared dict",
			yaml: "shared_dicts:\n  limits: 0\n",
			want: fmt.Sprintf("t.yaml:2: shared_dicts.limits: must be at least %d bytes (room for one entry), got 0", shm.MinCapacity),
		},
		{
			name: "bad shared dict name",
			yaml: "shared_dicts:\n  \"a b\": 1m\n",
			want: `t.yaml:2: shared_dicts["a b"]: must match [a-zA-Z0-9_.-]+, got "a b"`,
		},
		{
			name: "wrong type int",
			yaml: "workers: many\n",
			want: `t.yaml:1: workers: must be an integer, got "many"`,
		},
		{
			name: "wrong type bool",
			yaml: "routes:\n  - strip_prefix: yes\n",
			want: `t.yaml:2: routes[0].strip_prefix: must be true or false, got "yes"`,
		},
		{
			name: "mapping where a list belongs",
			yaml: "upstreams:\n  name: u\n",
			want: `t.yaml:1: upstreams: must be a list, got a mapping`,
		},
		{
			name: "list where a mapping belongs",
			yaml: "client: [1, 2]\n",
			want: `t.yaml:1: client: must be a mapping, got a list`,
		},
		{
			name: "duplicate key",
			yaml: "listen: :80\nlisten: :81\nworkers: -1\n",
			want: "t.yaml:2: listen: duplicate key (first at line 1)\nt.yaml:3: workers: must be between 0 and 1024, got -1",
		},
		{
			name: "bad enum",
			yaml: "log_level: verbose\n",
			want: `t.yaml:1: log_level: must be one of debug, info, warn, error; got "verbose"`,
		},
		{
			name: "bad log format",
			yaml: "log_format: logfmt\n",
			want: `t.yaml:1: log_format: must be one of text, json; got "logfmt"`,
		},
		{
			name: "bad listen",
			yaml: "listen: localhost\n",
			want: `t.yaml:1: listen: must be host:port, got "localhost"`,
		},
		{
			name: "target port out of range",
			yaml: "upstreams:\n  - name: u\n    targets:\n      - addr: 10.0.0.1:0\n",
			want: `t.yaml:4: upstreams[0].targets[0].addr: port must be between 1 and 65535, got "10.0.0.1:0"`,
		},
		{
			name: "target without host",
			yaml: "upstreams:\n  - name: u\n    targets:\n      - addr: :80\n",
			want: `t.yaml:4: upstreams[0].targets[0].addr: must have a host, got ":80"`,
		},
		{
			name: "duplicate target",
			yaml: "upstreams:\n  - name: u\n    targets:\n      - addr: a:80\n      - addr: a:80\n",
			want: `t.yaml:5: upstreams[0].targets[1].addr: duplicate target "a:80" (first at targets[0])`,
		},
		{
			name: "no targets and no name",
			yaml: "upstreams:\n  - balancer: p2c\n",
			want: "t.yaml:2: upstreams[0].name: is required\nt.yaml:2: upstreams[0].targets: at least one target is required",
		},
		{
			name: "duplicate upstream",
			yaml: "upstreams:\n  - name: u\n    targets: [{addr: \"a:1\"}]\n  - name: u\n    targets: [{addr: \"a:1\"}]\n",
			want: `t.yaml:4: upstreams[1].name: duplicate upstream name "u" (first at upstreams[0])`,
		},
		{
			name: "bad upstream name",
			yaml: "upstreams:\n  - name: u/v\n    targets: [{addr: \"a:1\"}]\nroutes:\n  - upstream: u/v\n",
			want: `t.yaml:2: upstreams[0].name: must match [a-zA-Z0-9_.-]+, got "u/v"`,
		},
		{
			name: "hash without hash_on",
			yaml: "upstreams:\n  - name: u\n    targets: [{addr: \"a:1\"}]\n    balancer: hash\n",
			want: `t.yaml:2: upstreams[0].hash_on: is required by the hash balancer`,
		},
		{
			name: "bad hash_on",
			yaml: "upstreams:\n  - name: u\n    targets: [{addr: \"a:1\"}]\n    balancer: hash\n    hash_on: header\n",
			want: `t.yaml:5: upstreams[0].hash_on: "header" needs a name, like "header:X-User", got "header"`,
		},
		{
			name: "hash_on without hash",
			yaml: "upstreams:\n  - name: u\n    targets: [{addr: \"a:1\"}]\n    hash_on: ip\n",
			want: `t.yaml:4: upstreams[0].hash_on: is only used by the hash balancer, not by "round_robin"`,
		},
		{
			name: "retry settings",
			yaml: `
upstreams:
  - name: u
    targets: [{addr: "a:1"}]
    retries:
      tries: 101
      on: [connect, sometimes]
      statuses: [200]
      budget: 1.5
`,
			want: `t.yaml:6: upstreams[0].retries.tries: must be between 1 and 16, got 101
t.yaml:7: upstreams[0].retries.on[1]: must be one of connect, timeout, error, invalid_header; got "sometimes"
t.yaml:8: upstreams[0].retries.statuses[0]: must be between 400 and 599, got 200
t.yaml:9: upstreams[0].retries.budget: must be > 0 and <= 1, got 1.5`,
		},
		{
			name: "health settings",
			yaml: `
upstreams:
  - name: u
    targets: [{addr: "a:1"}]
    health:
      passive: {max_fails: -2}
      active: {type: udp, path: healthz, interval: 1s, timeout: 2s, statuses: []}
      max_ejected_percent: 101
      panic_threshold: -0.1
`,
			want: `t.yaml:6: upstreams[0].health.passive.max_fails: must be between -1 and 1048576, got -2
t.yaml:7: upstreams[0].health.active.type: must be one of http, tcp; got "udp"
t.yaml:7: upstreams[0].health.active.path: must start with "/" and hold no spaces or control bytes, got "healthz"
t.yaml:7: upstreams[0].health.active.timeout: must not exceed interval (1s), got 2s
t.yaml:8: upstreams[0].health.max_ejected_percent: must be between 1 and 100, got 101
t.yaml:9: upstreams[0].health.panic_threshold: must be > 0 and <= 1, got -0.1`,
		},
		{
			name: "client limits",
			yaml: "client:\n  max_head_bytes: 100\n  max_fields: 20000\n  max_body: 1x\n",
			want: `t.yaml:2: client.max_head_bytes: must be between 1KiB and 1MiB, got 100
t.yaml:3: client.max_fields: must be between 1 and 10000, got 20000
t.yaml:4: client.max_body: must be a size like "10MiB", "512KiB", "1m" or a number of bytes, got "1x"`,
		},
		{
			name: "bad route patterns",
			yaml: `
routes:
  - match:
      hosts: ["api.example.com:8080"]
      paths: ["/users/{id", "/ok/*"]
      methods: [get, "GE T"]
`,
			want: `t.yaml:4: routes[0].match.hosts[0]: bad host pattern: must not carry a port (hosts are matched without it), got "api.example.com:8080"
t.yaml:5: routes[0].match.paths[0]: bad path pattern: a parameter must be a whole segment, "/{name}", got "/users/{id"
t.yaml:6: routes[0].match.methods[0]: methods are case-sensitive; did you mean "GET"?, got "get"
t.yaml:6: routes[0].match.methods[1]: bad method: ' ' is not allowed in a method, got "GE T"`,
		},
		{
			name: "conflicting routes",
			yaml: `
routes:
  - name: first
    match: {paths: ["/users/{id}"], methods: [GET]}
  - name: second
    match:
      paths: ["/users/{uid}"]
      methods: [POST, GET]
`,
			want: `t.yaml:6: routes[1].match: matches the same requests as routes[0] ("first"): host "*", path "/users/{uid}", method GET`,
		},
		{
			name: "duplicate route names",
			yaml: "routes:\n  - name: a\n    match: {paths: [/a]}\n  - name: a\n    match: {paths: [/b]}\n",
			want: `t.yaml:4: routes[1].name: duplicate route name "a" (first at routes[0])`,
		},
		{
			name: "strip_prefix without prefix",
			yaml: "routes:\n  - match: {paths: [/a]}\n    strip_prefix: true\n",
			want: `t.yaml:3: routes[0].strip_prefix: needs a prefix path like "/api/*" in match.paths`,
		},
		{
			name: "bad route host",
			yaml: "routes:\n  - host: \"bad host\"\n",
			want: `t.yaml:2: routes[0].host: must be a host or host:port, got "bad host"`,
		},
		{
			name: "policy without name",
			yaml: "routes:\n  - policies:\n      - config: {a: 1}\n      - name: Rate-Limit\nglobal_policies:\n  - name: \"\"\n",
			want: `t.yaml:3: routes[0].policies[0].name: is required
t.yaml:4: routes[0].policies[1].name: must match [a-z0-9_-]+, got "Rate-Limit"
t.yaml:6: global_policies[0].name: is required`,
		},
		{
			name: "syntax error",
			yaml: "listen: :80\nroutes\n  - x\n",
			want: `t.yaml:2: could not find expected ':'`,
		},
		{
			name: "two documents",
			yaml: "listen: :80\n---\nlisten: :81\n",
			want: `t.yaml:2: a second YAML document; a configuration is one document`,
		},
		{
			name: "bad merge",
			yaml: "client:\n  <<: 5\n",
			want: `t.yaml:2: client: a merge (<<) needs a mapping or a list of mappings, got "5"`,
		},
		{
			name: "root is a list",
			yaml: "- a\n",
			want: `t.yaml:1: must be a mapping, got a list`,
		},
		{
			name: "decode error is not repeated by validation",
			yaml: "upstreams:\n  - name: [u]\n    targets: [{addr: \"a:1\"}]\n",
			want: `t.yaml:2: upstreams[0].name: must be a string, got a list`,
		},
		{
			name: "errors sorted by line",
			yaml: "routes:\n  - upstream: nope\nworkers: -1\n",
			want: "t.yaml:2: routes[0].upstream: unknown upstream \"nope\"\nt.yaml:3: workers: must be between 0 and 1024, got -1",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(c.yaml), "t.yaml")
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", cfg)
			}
			if cfg != nil {
				t.Fatal("Parse returned a Config with an error")
			}
			if got := err.Error(); got != c.want {
				t.Fatalf("error:\n%s\nwant:\n%s", got, c.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrSyntax) {
				t.Fatalf("error wraps neither ErrInvalid nor ErrSyntax: %v", err)
			}
		})
	}
}

func TestErrorsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("upstreams:\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "  - name: \"bad name %d\"\n    targets: [{addr: \"a:1\"}]\n", i)
	}
	_, err := Parse([]byte(b.String()), "t.yaml")
	var list Errors
	if !errors.As(err, &list) || len(list) != 30 {
		t.Fatalf("want 30 errors, got %v", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxListedErrors+1 || lines[maxListedErrors] != "... and 10 more errors" {
		t.Fatalf("message has %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestSyntaxAndComplexitySentinels(t *testing.T) {
	if _, err := Parse([]byte("a: [\n"), "t.yaml"); !errors.Is(err, ErrSyntax) {
		t.Fatalf("unclosed list: %v", err)
	}
	// Nine levels of ten aliases each expand to 10^9 nodes.
	doc := "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		doc += "a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n"
	}
	doc = "shared_dicts:\n  x: 1k\nroutes:\n  - policies:\n      - name: p\n        config:\n" + indent(doc, "          ") +
		"global_policies:\n  - name: q\n    config: {<<: {}}\n"
	cfg, err := Parse([]byte(doc), "t.yaml")
	if err != nil {
		t.Fatalf("aliases inside a policy config are not expanded by Parse: %v", err)
	}
	var into map[string][]any
	if err := DecodePolicyConfig(cfg.Routes.At(0).Policies[0], &into); !errors.Is(err, ErrTooComplex) {
		t.Fatalf("billion laughs: %v", err)
	}
	var generic any
	if err := DecodePolicyConfig(cfg.Routes.At(0).Policies[0], &generic); !errors.Is(err, ErrTooComplex) {
		t.Fatalf("billion laughs into any: %v", err)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
