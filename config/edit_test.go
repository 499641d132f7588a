package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const editBase = `
upstreams:
  - name: a
    targets: [{addr: 127.0.0.1:9001}]
  - name: b
    targets: [{addr: 127.0.0.1:9002}]
routes:
  - name: r0
    match: {paths: [/a/*]}
    upstream: a
  - name: r1
    match: {paths: [/b/*]}
    upstream: b
consumers:
  - name: alice
    credentials:
      key_auth: [{key: alice-key-0123456789}]
`

func editConfig(t *testing.T) *Config {
	t.Helper()
	cfg, err := Parse([]byte(editBase), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPutRouteReplacesKeepsOthersRevisions(t *testing.T) {
	cfg := editConfig(t)
	next, i, err := cfg.PutRoute("r1", []byte(`{"match": {"paths": ["/bb/*"]}, "upstream": "a"}`), "PUT /routes/r1")
	if err != nil {
		t.Fatal(err)
	}
	if i != 1 || next.Routes.At(1).Name != "r1" || next.Routes.At(1).Upstream != "a" || next.Routes.At(1).Host != HostPass {
		t.Fatalf("route not replaced with defaults: %d %+v", i, next.Routes.At(1))
	}
	if cfg.Routes.At(1).Upstream != "b" {
		t.Fatal("the edit changed the original config")
	}
	if next.RouteRev(0) != cfg.RouteRev(0) || next.RouteRev(1) == cfg.RouteRev(1) || next.RouteRev(1) == 0 {
		t.Fatalf("revisions: untouched route must keep its own, the edited one a new one: %v %v / %v %v",
			cfg.RouteRev(0), cfg.RouteRev(1), next.RouteRev(0), next.RouteRev(1))
	}
	if next.SharedRev() != cfg.SharedRev() || next.UpstreamRev(0) != cfg.UpstreamRev(0) {
		t.Fatal("a route edit must keep the shared and upstream revisions")
	}
}

func TestPutRouteAppends(t *testing.T) {
	cfg := editConfig(t)
	next, i, err := cfg.PutRoute("new", []byte("match: {paths: [/n]}\nupstream: b\n"), "body")
	if err != nil {
		t.Fatal(err)
	}
	if i != 2 || next.Routes.Len() != 3 || next.Routes.At(2).Name != "new" || cfg.Routes.Len() != 2 {
		t.Fatalf("append: %d %d", i, next.Routes.Len())
	}
}

// The errors of an edit are those of the file, at the resource's place in
// the configuration, with the line in the body.
func TestPutRouteErrorsLikeTheFile(t *testing.T) {
	cfg := editConfig(t)
	cases := []struct{ name, doc, want string }{
		{"unknown upstream", `{"upstream": "nope"}`, `body:1: routes[2].upstream: unknown upstream "nope"`},
		{"unknown field", "{\n\"upstrem\": \"a\"}", `body:2: routes[2]: unknown field "upstrem" (did you mean "upstream"?)`},
		{"wrong type", `{"max_body": [1]}`, `routes[2].max_body: `},
		{"bad path", `{"match": {"paths": ["nope"]}, "upstream": "a"}`, `routes[2].match.paths[0]: `},
		{"name disagrees", `{"name": "other", "upstream": "a"}`, `routes[2].name: is "other" but the resource addressed is "x"`},
		{"syntax", `{"upstream": `, `body:1: `},
		{"empty", ``, `routes[2]: is empty`},
		{"two documents", "a: 1\n---\nb: 2\n", `a second document`},
		{"anonymous nobody", `{"upstream": "a", "policies": [{"name": "key-auth", "config": {"anonymous": "bob"}}]}`,
			`routes[2].policies[0].config.anonymous: names no consumer: "bob"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next, _, err := cfg.PutRoute("x", []byte(tc.doc), "body")
			if err == nil || next != nil {
				t.Fatalf("accepted %s", tc.doc)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v wraps neither ErrInvalid nor ErrSyntax", err)
			}
		})
	}
}

func TestDeleteRouteAndUpstream(t *testing.T) {
	cfg := editConfig(t)
	if _, _, err := cfg.DeleteUpstream("a"); err == nil || !strings.Contains(err.Error(), `upstreams[0]: is used by routes[0] ("r0")`) {
		t.Fatalf("deleting an upstream in use: %v", err)
	}
	next, i, err := cfg.DeleteRoute("r0")
	if err != nil || i != 0 || next.Routes.Len() != 1 || next.Routes.At(0).Name != "r1" || next.RouteRev(0) != cfg.RouteRev(1) {
		t.Fatalf("delete route: %v %d", err, i)
	}
	next, _, err = next.DeleteUpstream("a")
	if err != nil || len(next.Upstreams) != 1 || next.Upstreams[0].Name != "b" || next.UpstreamRev(0) != cfg.UpstreamRev(1) {
		t.Fatalf("delete upstream: %v", err)
	}
	if _, _, err := cfg.DeleteRoute("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing route: %v", err)
	}
}

func TestPutUpstreamValidates(t *testing.T) {
	cfg := editConfig(t)
	next, _, err := cfg.PutUpstream("a", []byte(`{"targets": [{"addr": "127.0.0.1:9100", "weight": 5}]}`), "body")
	if err != nil {
		t.Fatal(err)
	}
	if u := next.Upstreams[0]; u.Targets[0].Weight != 5 || u.Balancer != BalancerRoundRobin || u.Pool.MaxIdle != 64 {
		t.Fatalf("defaults not filled: %+v", u)
	}
	if next.RouteRev(0) != cfg.RouteRev(0) || next.UpstreamRev(0) == cfg.UpstreamRev(0) {
		t.Fatal("revisions")
	}
	_, _, err = cfg.PutUpstream("a", []byte(`{"targets": [{"addr": "nope"}], "discovery": {"type": "consul", "service": "x"}}`), "body")
	for _, want := range []string{"upstreams[0].targets[0].addr: must be host:port", "upstreams[0].discovery: needs the top-level consul section"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not contain %q", err, want)
		}
	}
}

// Consumer edits validate everything again: credentials are unique across
// consumers.
func TestPutConsumerChecksAcrossConsumers(t *testing.T) {
	cfg := editConfig(t)
	_, _, err := cfg.PutConsumer("bob", []byte(`{"credentials": {"key_auth": [{"key": "alice-key-0123456789"}]}}`), "body")
	if err == nil || !strings.Contains(err.Error(), "consumers[1].credentials.key_auth[0].key: duplicate key_auth credential") {
		t.Fatalf("duplicate key: %v", err)
	}
	if strings.Contains(err.Error(), "alice-key") {
		t.Fatal("the error shows the secret")
	}
	next, _, err := cfg.PutConsumer("bob", []byte(`{"credentials": {"key_auth": [{"key": "bob-key-0123456789xx"}]}}`), "body")
	if err != nil || len(next.Consumers) != 2 || next.Consumers[1].Credentials.KeyAuth[0].KeyBytes() != "bob-key-0123456789xx" {
		t.Fatalf("put consumer: %v", err)
	}
	if cfg.Consumers[0].Credentials.KeyAuth[0].KeyBytes() != "alice-key-0123456789" {
		t.Fatal("validating the edit changed the original's credentials")
	}
}

func TestEncodeJSONRedactsAndKeepsOrder(t *testing.T) {
	cfg := editConfig(t)
	out, err := EncodeJSON(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "alice-key") || !strings.Contains(string(out), Redacted) {
		t.Fatalf("secret not redacted: %s", out)
	}
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	if strings.Index(string(out), `"listen"`) > strings.Index(string(out), `"routes"`) {
		t.Fatal("keys are not in the YAML order")
	}
	if err := CheckNoRedacted(out, "body", ""); err == nil || !strings.Contains(err.Error(), "consumers[0].credentials.key_auth[0].key: is <redacted>") {
		t.Fatalf("sending the placeholder back: %v", err)
	}
	// A route's JSON reads back into the same route.
	rj, _ := EncodeJSON(cfg.Routes.At(0))
	next, _, err := cfg.PutRoute("r0", rj, "body")
	if err != nil {
		t.Fatalf("%v\n%s", err, rj)
	}
	again, _ := EncodeJSON(next.Routes.At(0))
	if string(again) != string(rj) {
		t.Fatalf("JSON round trip:\n%s\n%s", rj, again)
	}
}

func TestPointer(t *testing.T) {
	for path, want := range map[string]string{
		"":                                   "",
		"routes":                             "/routes",
		"routes[2].policies[0].config.count": "/routes/2/policies/0/config/count",
		`shared_dicts["a/b~c"]`:              "/shared_dicts/a~1b~0c",
		`consumers[1].metadata["x.y"].z`:     "/consumers/1/metadata/x.y/z",
	} {
		if got := Pointer(path); got != want {
			t.Errorf("Pointer(%q) = %q, want %q", path, got, want)
		}
	}
}

// BenchmarkPutRoute10k measures one route edit of a 10,000-route
// configuration: decoding, validating and copying.
func BenchmarkPutRoute10k(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("upstreams: [{name: u, targets: [{addr: 127.0.0.1:9}]}]\nroutes:\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&sb, "  - {name: r%d, match: {paths: [/s%d/*]}, upstream: u, policies: [{name: request-id}]}\n", i, i)
	}
	cfg, err := Parse([]byte(sb.String()), "big.yaml")
	if err != nil {
		b.Fatal(err)
	}
	doc := []byte(`{"match": {"paths": ["/s5000/*"], "methods": ["GET"]}, "upstream": "u", "policies": [{"name": "request-id"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := cfg.PutRoute("r5000", doc, "body"); err != nil {
			b.Fatal(err)
		}
	}
}

// The route-caching encoder writes what EncodeYAML writes, read back.
func TestYAMLEncoderRoundTrip(t *testing.T) {
	cfg := editConfig(t)
	next, _, err := cfg.PutRoute("blk", []byte("match: {paths: [/blk]}\npolicies:\n  - name: response\n    config:\n      body: |\n        two\n        lines\n"), "body")
	if err != nil {
		t.Fatal(err)
	}
	var enc YAMLEncoder
	for _, c := range []*Config{cfg, next, next} {
		out, err := enc.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out, "encoded.yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		want, _ := EncodeYAML(c)
		got, _ := EncodeYAML(back)
		if string(want) != string(got) {
			t.Fatalf("round trip:\n%s\n---\n%s", want, got)
		}
	}
	if len(enc.routes) != next.Routes.Len() {
		t.Fatalf("the encoder keeps %d routes, want %d", len(enc.routes), next.Routes.Len())
	}
}

// A policy config's value left empty in a flow mapping ("{a, b: 1}") is
// null, and stays null when the config is written and read back: yaml.v3
// wrote it as a quoted empty string (found by FuzzEncodeJSONAgrees).
func TestEmptyFlowValueStaysNullWrittenBack(t *testing.T) {
	cfg, err := Parse([]byte(`upstreams: [{name: u, targets: [{addr: "127.0.0.1:1"}]}]
global_policies: [{name: headers, config: {a, b: 1, c: }}]
consumers:
  - name: c
    policies: [{name: limit-count, config: { count, window: 10s }}]
routes:
  - name: r
    match: {paths: [/r]}
    upstream: u
    policies: [{name: headers, config: {d, e: [{f}]}}]
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var enc YAMLEncoder
	whole, err := enc.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := EncodeYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range [][]byte{whole, plain} {
		back, err := Parse(out, "back.yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, n := range []*yaml.Node{&back.GlobalPolicies[0].Config, &back.Consumers[0].Policies[0].Config, &back.Routes.At(0).Policies[0].Config} {
			var nulls, strs int
			walk := []*yaml.Node{n}
			for len(walk) > 0 {
				m := walk[0]
				walk = append(walk[1:], m.Content...)
				switch {
				case m.Kind == yaml.ScalarNode && m.ShortTag() == "!!null":
					nulls++
				case m.Kind == yaml.ScalarNode && m.ShortTag() == "!!str" && m.Value == "":
					strs++
				}
			}
			if nulls == 0 || strs != 0 {
				t.Fatalf("read back with %d nulls and %d empty strings:\n%s", nulls, strs, out)
			}
		}
	}
	agreeWithTheNodeTree(t, "x.yaml", cfg)
}

// The encoder forgets the YAML of replaced routes: a thousand edits of one
// route leave it holding at most about twice the routes, and what it
// writes is still the config.
func TestYAMLEncoderForgetsReplacedRoutes(t *testing.T) {
	cfg := editConfig(t)
	var enc YAMLEncoder
	for i := 0; i < 1000; i++ {
		next, _, err := cfg.PutRoute("r1", []byte(fmt.Sprintf(`{"match": {"paths": ["/e/%d"]}, "upstream": "a"}`, i)), "body")
		if err != nil {
			t.Fatal(err)
		}
		cfg = next
		if err := enc.WriteTo(io.Discard, cfg); err != nil {
			t.Fatal(err)
		}
		if len(enc.routes) > 2*cfg.Routes.Len()+64 {
			t.Fatalf("edit %d: the encoder holds %d routes' YAML for %d routes", i, len(enc.routes), cfg.Routes.Len())
		}
	}
	out, err := enc.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "encoded.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := EncodeYAML(cfg)
	if got, _ := EncodeYAML(back); string(got) != string(want) {
		t.Fatalf("round trip after the edits:\n%s\n---\n%s", want, got)
	}
	if enc.Encoded() != int64(cfg.Routes.Len()-1+1000) {
		t.Fatalf("encoded %d routes, want each unchanged route once and each edit's once (%d)", enc.Encoded(), cfg.Routes.Len()-1+1000)
	}
}

// An upstream a policy sends to is not deleted either.
func TestDeleteUpstreamNamedByAPolicy(t *testing.T) {
	cfg := editConfig(t)
	next, _, err := cfg.PutRoute("m", []byte(`{"match": {"paths": ["/m"]}, "upstream": "a", "policies": [{"name": "mirror", "config": {"upstream": "b"}}]}`), "body")
	if err != nil {
		t.Fatal(err)
	}
	next, _, err = next.DeleteRoute("r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := next.DeleteUpstream("b"); err == nil || !strings.Contains(err.Error(), `routes[1].policies[0] (mirror of route "m")`) {
		t.Fatalf("deleting an upstream a mirror sends to: %v", err)
	}
}
