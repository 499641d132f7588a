package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
)

// decodeJSON is json.Unmarshal into an any, with numbers kept as their
// text: a number beyond float64's range is valid JSON that the walker
// passes through untouched, and Unmarshal would refuse it.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

// FuzzJSONWalk checks the aggregate's JSON walker against encoding/json:
// for any valid document that is an object, the fields jsonFields yields,
// put back together, are the same object (decoded), and merging it alone
// through the merger gives it back too (duplicate keys aside, which
// encoding/json resolves the same way: the last one wins). Numbers are
// compared as text (decodeJSON).
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
		want, err := decodeJSON(doc)
		if err != nil {
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
		got, err := decodeJSON(rebuilt)
		if err != nil {
			t.Fatalf("rebuilt %q: %v", rebuilt, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("rebuilt %s\nfrom %s", rebuilt, doc)
		}
		var m merger
		m.reset()
		m.mergeFields(v, &fieldFilter{})
		merged, err := decodeJSON(m.appendObject(nil))
		if err != nil || !reflect.DeepEqual(merged, want) {
			t.Fatalf("merged %s (%v)\nfrom %s", m.appendObject(nil), err, doc)
		}
	})
}
