package config

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"go.yaml.in/yaml/v3"
)

var jsonNodeCases = []struct {
	doc  string
	fast bool // jsonNodes builds it; otherwise yaml.v3 does
}{
	{`{}`, true},
	{`{"match": {"paths": ["/churn1/2"]}, "upstream": "up"}`, true},
	{"{\n  \"a\": [1, -2, 3.5, 1e3, -0, 0.0, 12345678901234567890, 1E+2],\n  \"b\": {\"c\": true, \"d\": false, \"e\": null},\n  \"f\": [],\n  \"g\": {}, \"h\": [[[]]]\n}\n", true},
	{`{"esc": "a\"b\\c\b\f\n\r\t", "key with spaces": "", "<<": "merge?"}`, true},
	{`{"slash": "a\/b"}`, false}, // yaml.v3 refuses the escape, as it did before jsonNodes
	{`{"dup": 1, "dup": 2}`, true},
	{`{"u": "\u00e9"}`, false},
	{"{\"t\":\t1}", false},
	{"{\"a\": 1}\r\n", false},
	{`{"a": 1} {"b": 2}`, false},
	{`{"a": 01}`, false},
	{`{"a": 1x}`, false},
	{`{"a": truex}`, false},
	{`{a: 1}`, false},
	{`{"a": 1,}`, false},
	{"{\"a\"\n: 1}", false},
	{`{"é": 1}`, false},
	{`{"big": 1e400}`, false},
	{` {"a": 1}`, false},
}

// jsonNodes builds the tree yaml.v3 builds for the JSON bodies it takes,
// and leaves the others to yaml.v3.
func TestJSONNodesAreYAMLv3s(t *testing.T) {
	for _, tc := range jsonNodeCases {
		got, ok := jsonNodes([]byte(tc.doc))
		if ok != tc.fast {
			t.Errorf("%q: built %v, want %v", tc.doc, ok, tc.fast)
			continue
		}
		if ok {
			checkJSONNodes(t, []byte(tc.doc), got)
		}
	}
}

func checkJSONNodes(t *testing.T, doc []byte, got *yaml.Node) {
	t.Helper()
	var want yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("%q: jsonNodes built a tree, yaml.v3 says %v", doc, err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("%q: jsonNodes built\n%s\nyaml.v3\n%s", doc, dumpNode(got, ""), dumpNode(&want, ""))
	}
}

func dumpNode(n *yaml.Node, indent string) string {
	s := fmt.Sprintf("%skind %d style %d tag %q value %q at %d:%d\n", indent, n.Kind, n.Style, n.Tag, n.Value, n.Line, n.Column)
	for _, c := range n.Content {
		s += dumpNode(c, indent+"  ")
	}
	return s
}

// A route PUT as JSON allocates a fraction of what yaml.v3's parser did
// (about 17 KB).
func TestJSONNodesAllocateLittle(t *testing.T) {
	doc := []byte(`{"match": {"paths": ["/churn1/2"]}, "upstream": "up", "policies": [{"name": "headers", "config": {"request": {"set": {"X-Route": "r1"}}}}]}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		if _, ok := jsonNodes(doc); !ok {
			t.Fatal("not built")
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 4<<10 {
		t.Fatalf("%d bytes per document", per)
	}
}

// FuzzJSONNodes: whatever jsonNodes builds, yaml.v3 builds the same.
func FuzzJSONNodes(f *testing.F) {
	for _, tc := range jsonNodeCases {
		f.Add([]byte(tc.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, ok := jsonNodes(doc); ok {
			checkJSONNodes(t, doc, got)
		}
	})
}
