package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// encodedParts are what the Admin API encodes: the whole config and each
// resource.
func encodedParts(cfg *Config) []any {
	parts := []any{cfg, cfg.GlobalPolicies}
	for _, r := range cfg.Routes.All() {
		parts = append(parts, r)
	}
	for i := range cfg.Upstreams {
		parts = append(parts, &cfg.Upstreams[i])
	}
	for i := range cfg.Consumers {
		parts = append(parts, &cfg.Consumers[i])
	}
	return parts
}

// agreeWithTheNodeTree checks that every part of cfg comes out of
// EncodeJSON and EncodeJSONWithSecrets as the node tree alone writes it,
// byte for byte.
func agreeWithTheNodeTree(t testing.TB, name string, cfg *Config) {
	t.Helper()
	for _, v := range encodedParts(cfg) {
		for _, redacting := range []bool{true, false} {
			got, err := encodeJSON(v, redacting)
			want, wantErr := encodeJSONByNodes(v, redacting)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%s: %T: error %v, through the nodes %v", name, v, err, wantErr)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: %T (redacting %v):\n direct %s\n  nodes %s", name, v, redacting, got, want)
			}
		}
	}
}

// encodedDirectly says whether v is written without the node tree at all.
func encodedDirectly(v any) bool {
	e := jsonValue{redacting: true}
	_, err := e.append(nil, reflect.ValueOf(v), "")
	return err == nil && e.byNodesN == 0
}

// TestEncodeJSONAgreesWithTheNodeTree encodes every example config, and
// each of its resources, both ways.
func TestEncodeJSONAgreesWithTheNodeTree(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	docs := map[string][]byte{"policyYAML": []byte(policyYAML)}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = data
	}
	routes := 0
	for name, data := range docs {
		cfg, err := Parse(data, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		agreeWithTheNodeTree(t, name, cfg)
		for _, r := range cfg.Routes.All() {
			if encodedDirectly(r) {
				routes++
			}
		}
	}
	if routes == 0 {
		t.Fatal("no route was encoded directly: the test compared nothing")
	}
}

// TestEncodeJSONLeavesToTheNodeTree: the parts the direct way leaves to
// the node tree (a map, credentials, a policy's config holding some) come
// out redacted and in yaml.v3's order, within a value written directly.
func TestEncodeJSONLeavesToTheNodeTree(t *testing.T) {
	cfg, err := Parse([]byte(`
shared_dicts: {b: 1MiB, a10: 1k, a9: 2k}
consumers:
  - name: alice
    credentials: {key_auth: [{key: s3cret-key-0123456789}]}
routes:
  - name: r
    match: {paths: [/x]}
    upstream: up
    policies: [{name: headers, config: {credentials: {key_auth: [{key: in-a-policy}]}}}]
upstreams: [{name: up, targets: [{addr: "127.0.0.1:1"}]}]
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	agreeWithTheNodeTree(t, "x.yaml", cfg)
	for _, v := range []any{cfg, &cfg.Consumers[0], cfg.Routes.At(0)} {
		out, err := EncodeJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(out, []byte("s3cret")) || bytes.Contains(out, []byte("in-a-policy")) {
			t.Errorf("%T: a secret in %s", v, out)
		}
		if encodedDirectly(v) {
			t.Errorf("%T: written without the node tree", v)
		}
	}
	out, _ := EncodeJSON(cfg)
	if !bytes.Contains(out, []byte(`"shared_dicts":{"a9":"2KiB","a10":"1KiB","b":"1MiB"}`)) {
		t.Errorf("the map is not in yaml.v3's order: %s", out)
	}
}

// FuzzEncodeJSONAgrees: for any config that parses, the direct encoder
// writes what the node tree writes.
func FuzzEncodeJSONAgrees(f *testing.F) {
	addConfigSeeds(f)
	f.Add([]byte("routes:\n  - {name: a, match: {paths: [\"/u/{id}\"], methods: [GET]}, upstream: u, strip_prefix: true, policies: [{name: headers, config: {request: {set: {X-A: \"1\", X-B: 'true', X-C: 1.5e3}}}}]}\nupstreams: [{name: u, targets: [{addr: \"a:1\", weight: 3}]}]\n"))
	f.Add([]byte("client: {max_body: 1m, header_timeout: 1500ms}\nroutes:\n  - name: \"é\\t\\u2028<>&\"\n    match: {paths: [/x]}\n    upstream: u\nupstreams: [{name: u, targets: [{addr: \"a:1\"}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "f.yaml")
		if err != nil {
			return
		}
		agreeWithTheNodeTree(t, "fuzz", cfg)
	})
}

// TestAppendJSONStringIsEncodingJSONs: the plain strings' shortcut writes
// what encoding/json (HTML escaping off) writes, for every ASCII byte and
// the runes it escapes.
func TestAppendJSONStringIsEncodingJSONs(t *testing.T) {
	strs := []string{"", "plain/path-1.2_x~y", "<redacted>", "é", "\u2028\u2029", "a\x7fb", "\xff"}
	for c := 0; c < 0x80; c++ {
		strs = append(strs, string(rune(c)), "x"+string(rune(c))+"y")
	}
	for _, s := range strs {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got, want := string(appendJSONString(nil, s)), strings.TrimSuffix(b.String(), "\n"); got != want {
			t.Errorf("%q: %s, encoding/json %s", s, got, want)
		}
	}
}
