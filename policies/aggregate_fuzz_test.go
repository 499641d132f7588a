package policies

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzJSONWalk checks the aggregate's JSON walker against encoding/json:
// for any valid document that is an object, the fields jsonFields yields,
// put back together, are the same object (decoded), and merging it alone
// through the merger gives it back too (duplicate keys aside, which
// encoding/json resolves the same way: the last one wins).
func FuzzJSONWalk(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, ` {"a" : [1, {"b": "}"}], "c\"d": null , "e":-0.5e+3}`,
		`{"a":{"b":{"c":[[],{}]}},"a":2}`, `{"\u00e9":"\ud83d\ude00","x":"a\\\"b"}`, `[1,2]`, `"s"`, `{"a":tru}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		v := jsonTrim(doc)
		var want any
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		if d := jsonDepth(doc); d > 10000 || d < 0 {
			t.Fatalf("depth %d", d)
		}
		if _, ok := want.(map[string]any); !ok || v[0] != '{' {
			return
		}
		rebuilt := []byte{'{'}
		n := 0
		jsonFields(v, func(k, val []byte) bool {
			if !json.Valid(val) {
				t.Fatalf("value %q of key %q is not JSON", val, k)
			}
			if n > 0 {
				rebuilt = append(rebuilt, ',')
			}
			n++
			rebuilt = append(rebuilt, '"')
			rebuilt = append(rebuilt, k...)
			rebuilt = append(rebuilt, '"', ':')
			rebuilt = append(rebuilt, val...)
			return true
		})
		rebuilt = append(rebuilt, '}')
		var got any
		if err := json.Unmarshal(rebuilt, &got); err != nil {
			t.Fatalf("rebuilt %q: %v", rebuilt, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rebuilt %s\nfrom %s", rebuilt, doc)
		}
		var m merger
		m.reset()
		m.mergeFields(v, &fieldFilter{})
		var merged any
		if err := json.Unmarshal(m.appendObject(nil), &merged); err != nil || !reflect.DeepEqual(merged, want) {
			t.Fatalf("merged %s (%v)\nfrom %s", m.appendObject(nil), err, doc)
		}
	})
}
