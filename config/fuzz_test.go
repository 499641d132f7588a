package config

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// addConfigSeeds adds the configs every config fuzz test starts from: the
// quick start's and policyYAML.
func addConfigSeeds(f *testing.F) {
	if qs, err := os.ReadFile(quickstart); err == nil {
		f.Add(qs)
	}
	f.Add([]byte(policyYAML))
}

// FuzzParse checks that Parse never panics or hangs, that an error always
// wraps a sentinel and points inside the input, and that an accepted
// configuration validates again and survives a marshal and re-parse.
func FuzzParse(f *testing.F) {
	addConfigSeeds(f)
	f.Add([]byte("upstreams:\n  - &b {name: a, targets: [{addr: \"a:1\"}]}\n  - <<: *b\n    name: b\n"))
	f.Add([]byte("routes:\n  - match: {hosts: [\"*.a.com\"], paths: [\"/u/{id}\", /x/*], methods: [GET]}\n    strip_prefix: true\n"))
	f.Add([]byte("shared_dicts: {a: 10MiB, b: 1k}\nclient: {max_body: 1m, header_timeout: 1s}\n"))
	f.Add([]byte("redis: {mode: sentinel, master_name: m, addresses: [\"s1:26379\", \"s2:26379\"], username: u, password: p, database: 2, read_timeout: 50ms, pool_size: 8, tls: true}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("listen: :80\n---\nx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "f.yaml")
		if err != nil {
			if cfg != nil {
				t.Fatal("a Config came with an error")
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooComplex) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not an Errors: %T %v", err, err)
			}
			lines := yamlLines(data)
			for _, e := range list {
				if e.Line < 0 || e.Line > lines+1 {
					t.Fatalf("line %d outside a %d-line input: %v", e.Line, lines, e)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("a parsed Config does not validate again: %v", err)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := Parse(out, "again.yaml"); err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
	})
}

// yamlLines counts the lines of data as the YAML scanner does: "\r\n", "\n",
// "\r", NEL, LS and PS all end a line.
func yamlLines(data []byte) int {
	n := 1
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n', data[i] == '\r' && (i+1 == len(data) || data[i+1] != '\n'):
			n++
		case bytes.HasPrefix(data[i:], []byte("\u0085")), bytes.HasPrefix(data[i:], []byte("\u2028")), bytes.HasPrefix(data[i:], []byte("\u2029")):
			n++
		}
	}
	return n
}

// CheckNoRedacted skips its parse for documents mayHoldRedacted clears:
// none of those may hold the marker as a value, however it is spelt.
func FuzzMayHoldRedacted(f *testing.F) {
	for _, seed := range []string{
		`{"key": "<redacted>"}`,
		`{"key": "\u003credacted\u003e"}`,
		`{"key": "\u003c\u0072edacted>"}`,
		"key: \"\\x3credacted\\x3e\"\n",
		"key: '<redacted>'\n",
		"a: &x <redacted>\nb: *x\n",
		"key: >\n  <redacted>\n",
		"key: !!str <redacted>\n",
		`{"key": "secret"}`,
		"key: <red\n  acted>\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if mayHoldRedacted(doc) {
			return
		}
		var root yaml.Node
		if yaml.Unmarshal(doc, &root) != nil {
			return
		}
		if p, _, ok := findRedacted(&root, "", 0); ok {
			t.Fatalf("%q holds the marker at %s, and the check would skip it", doc, p)
		}
	})
}
