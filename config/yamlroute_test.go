package config

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// routeYAMLCases are routes as the Admin API receives them: the common
// ones routeYAML writes itself (direct), the unusual ones it leaves to
// yaml.v3.
var routeYAMLCases = []struct {
	name, doc string
	direct    bool
}{
	{"plain", `{"match": {"paths": ["/t/*"]}, "upstream": "a"}`, true},
	// A key of "key: value" is 1024 characters at most; a longer one was
	// written as one, which reads back as "could not find expected ':'"
	// (found by FuzzRouteYAML: a key that quoting made longer). yaml.v3
	// writes it as an explicit key ("? key"), as these cases are sent.
	{"key of 1024 characters", longKeyRoute(strings.Repeat("k", 1024)), true},
	{"key of 1025 characters", longKeyRoute(strings.Repeat("k", 1025)), false},
	{"key that quoting takes over 1024", longKeyRoute(`0 "` + strings.Repeat("C", 1020)), false},
	{"every route field", `{"match": {"hosts": ["*.example.com", "api.example.com"], "paths": ["/u/{id}", "/x/*"], "methods": ["GET", "POST"]}, "upstream": "a", "host": "upstream", "max_body": "1MiB", "strip_prefix": true, "log": {"sample": 0.25}}`, true},
	{"strings YAML reads otherwise", `{"match": {"paths": ["/t"]}, "policies": [{"name": "headers", "config": {"request": {"set": {"X-A": "yes", "X-B": "123", "X-C": "null", "X-D": "a: b", "X-E": "#x", "X-F": "", "X-G": "~", "X-H": "true", "X-I": "1e3", "X-J": "- x", "X-K": " lead", "X-L": "0x1F", "X-M": "on", "X-N": "N", "X-O": ".inf", "X-P": "10s", "X-Q": "0x1F", "X-R": "1e3", "X-S": "0b101", "X-T": "1.5", "X-U": "2001-12-14", "X-V": "1m15s", "X-W": "12:30", "X-X": "1_000", "X-Y": "0o17", "X-Z": "Infinity"}}}}]}`, true},
	{"strings with escapes", "{\"match\": {\"paths\": [\"/a\"]}, \"policies\": [{\"name\": \"response\", \"config\": {\"body\": \"two\\nlines\\t\\\"quoted\\\" back\\\\slash \\u0001 \\u2028 é 😀\"}}]}", true},
	{"numbers, bools and nulls in a policy", `{"match": {"paths": ["/t"]}, "policies": [{"name": "p", "config": {"count": 10, "neg": -3, "ratio": 0.5, "big": 1e300, "on": true, "off": false, "none": null, "list": [1, "two", [3, [4]], {"five": 5}, [], {}]}}]}`, true},
	{"keys of other tags", "match: {paths: [/t]}\npolicies:\n  - name: p\n    config:\n      statuses: {200: ok, 404: missing}\n", true},
	{"block YAML", "match:\n  paths: [/blk]\npolicies:\n  - name: response\n    config:\n      body: |\n        two\n        lines\n", true},
	{"a policy without config", `{"match": {"paths": ["/t"]}, "policies": [{"name": "cors"}, {"name": "p", "id": "second"}]}`, true},
	{"hex and special floats", "match: {paths: [/t]}\npolicies:\n  - name: p\n    config: {hex: 0x1F, inf: .inf, nan: .nan}\n", false},
	{"an alias", "match: {paths: [/t]}\npolicies:\n  - name: p\n    config: {a: &x {b: 1}, c: *x}\n", false},
	{"a custom tag", "match: {paths: [/t]}\npolicies:\n  - name: p\n    config: {a: !thing x}\n", false},
	{"a binary scalar", "match: {paths: [/t]}\npolicies:\n  - name: p\n    config: {a: !!binary aGVsbG8=}\n", false},
	{"DEL in a string", "{\"match\": {\"paths\": [\"/a\"]}, \"policies\": [{\"name\": \"p\", \"config\": {\"a\": \"x\\u007fy\"}}]}", false},
}

// What routeYAML writes, yaml.v3 reads back as the route it was: the
// configuration the write-back leaves in the file is the one in force.
// The common routes take routeYAML's way, the unusual ones yaml.v3's.
// longKeyRoute is a route whose policy config has one key, sent as an
// explicit YAML key, which may be of any length.
func longKeyRoute(key string) string {
	return "match: {paths: [/t]}\npolicies:\n  - name: headers\n    config:\n      ? " + key + "\n      : 1\n"
}

func TestRouteYAMLReadsBackAsYAMLv3(t *testing.T) {
	for _, tc := range routeYAMLCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := editConfig(t).PutRoute("x", []byte(tc.doc), "case")
			if err != nil {
				t.Fatal(err)
			}
			r := cfg.Routes.At(cfg.RouteIndex("x"))
			item, direct := routeYAML(nil, r)
			if direct != tc.direct {
				t.Fatalf("written directly %v, want %v:\n%s", direct, tc.direct, item)
			}
			checkRouteReadsBack(t, cfg, r)
		})
	}
}

// checkRouteReadsBack writes cfg through the YAMLEncoder and checks that
// route r reads back as yaml.v3 wrote it.
func checkRouteReadsBack(t *testing.T, cfg *Config, r *Route) {
	t.Helper()
	var enc YAMLEncoder
	out, err := enc.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "written.yaml")
	// An edit leaves the overlap of routes' matches to the engine
	// (edit.go): a file of such routes is refused, however it is written.
	ref, refErr := EncodeYAML(cfg)
	if refErr == nil {
		_, refErr = Parse(ref, "yamlv3.yaml")
	}
	if (err == nil) != (refErr == nil) {
		t.Fatalf("the written file: %v; written by yaml.v3: %v\n%s", err, refErr, out)
	}
	if err != nil {
		return
	}
	i := back.RouteIndex(r.Name)
	if i < 0 {
		t.Fatalf("route %q not in the written file:\n%s", r.Name, out)
	}
	if got, want := routeValue(back.Routes.At(i)), routeValue(r); got != want {
		t.Fatalf("read back as\n%s\nwant\n%s\nfrom\n%s", got, want, out)
	}
}

// routeValue is what a route means: its fields, and its policies' configs
// by kind, tag and value. Styles (quotes, flow or block, literal blocks)
// are how the file was written, not its value: routeYAML does not keep
// them.
func routeValue(r *Route) string {
	cp := *r
	cp.Policies = nil
	b, _ := EncodeJSONWithSecrets(&cp)
	out := string(b)
	for _, p := range r.Policies {
		out += "\n" + p.Name + " " + p.ID + ": " + nodeValue(&p.Config)
	}
	return out
}

func nodeValue(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	value := n.Value
	if n.ShortTag() == "!!null" {
		value = "" // "", "~" and "null" are one null
	}
	s := fmt.Sprintf("(%d %s %q", n.Kind, n.ShortTag(), value)
	for _, c := range n.Content {
		s += " " + nodeValue(c)
	}
	return s + ")"
}

// The file routeYAML writes looks like yaml.v3's: the same indentation,
// strings quoted only where they must be.
func TestRouteYAMLLooksLikeYAMLv3(t *testing.T) {
	cfg, _, err := editConfig(t).PutRoute("x", []byte(`{"match": {"paths": ["/t/*"]}, "upstream": "a", "policies": [{"name": "headers", "config": {"request": {"set": {"X-Route": "r1", "X-Flag": "yes"}}}}]}`), "case")
	if err != nil {
		t.Fatal(err)
	}
	item, ok := routeYAML(nil, cfg.Routes.At(cfg.RouteIndex("x")))
	if !ok {
		t.Fatal("not written directly")
	}
	want := `  - name: x
    match:
        paths:
            - /t/*
    upstream: a
    host: pass
    max_body: 0
    strip_prefix: false
    policies:
        - name: headers
          config:
            request:
                set:
                    X-Route: r1
                    X-Flag: "yes"
`
	if string(item) != want {
		t.Fatalf("wrote\n%s\nwant\n%s", item, want)
	}
	// Byte for byte what yaml.v3 writes, for routes of words written in
	// block style (yaml.v3 keeps a policy config's styles: JSON's quotes
	// and braces stay JSON's, which routeYAML does not keep).
	for _, doc := range []string{
		`{"match": {"hosts": ["api.example.com"], "paths": ["/t/*", "/u/{id}"], "methods": ["GET"]}, "upstream": "a", "max_body": "1MiB", "strip_prefix": true, "log": {"sample": 0.5}}`,
		"match: {paths: [/t/*]}\npolicies:\n  - name: cache\n    config:\n      ttl: 10s\n      key: uri_args\n      statuses:\n        - 200\n        - 301\n      vary:\n        a:\n          - 1\n          - 2\n        b:\n          c: max-age=60,private\n  - name: cors\n    id: two\n",
		"match: {paths: [/t/*]}\npolicies:\n  - name: p\n    config:\n      list:\n        - a: 1\n          b:\n            - 2\n            - 3\n        - c:\n            d: http://x:80/y\n      body: |\n        two\n          lines\n",
	} {
		cfg, _, err := editConfig(t).PutRoute("x", []byte(doc), "case")
		if err != nil {
			t.Fatal(err)
		}
		r := cfg.Routes.At(cfg.RouteIndex("x"))
		item, ok := routeYAML(nil, r)
		v3, _ := EncodeYAML(r)
		if want := listItem(v3); !ok || string(item) != string(want) {
			t.Fatalf("wrote (directly: %v)\n%s\nyaml.v3 writes\n%s", ok, item, want)
		}
	}
}

// A write-back of one changed route allocates kilobytes, not yaml.v3's
// 37 KB.
func TestRouteYAMLAllocatesLittle(t *testing.T) {
	cfg, _, err := editConfig(t).PutRoute("x", []byte(`{"match": {"paths": ["/t/*"]}, "upstream": "a", "policies": [{"name": "headers", "config": {"request": {"set": {"X-Route": "r1"}}}}]}`), "case")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes.At(cfg.RouteIndex("x"))
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(50, func() {
		if _, ok := routeYAML(buf[:0], r); !ok {
			t.Fatal("not written directly")
		}
	})
	// The reflect walk boxes a few values (MarshalYAML's results).
	if allocs > 20 {
		t.Fatalf("%v allocations per route", allocs)
	}
}

// FuzzRouteYAML: any route the Admin API accepts, routeYAML writes so
// that it reads back as the same route, or leaves it to yaml.v3.
func FuzzRouteYAML(f *testing.F) {
	for _, tc := range routeYAMLCases {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg, _, err := editConfig(t).PutRoute("x", doc, "fuzz")
		if err != nil {
			return
		}
		r := cfg.Routes.At(cfg.RouteIndex("x"))
		item, ok := routeYAML(nil, r)
		if !ok {
			return // yaml.v3's way, as before routeYAML (which it does not always read back the same)
		}
		if !strings.HasPrefix(string(item), "  - name: ") {
			t.Fatalf("item does not start the list entry: %q", item)
		}
		checkRouteReadsBack(t, cfg, r)
	})
}
