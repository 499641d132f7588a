package policies

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzParamsJSON checks the params JSON scanner against encoding/json:
// the same documents are valid, an object's members are the ones
// encoding/json decodes, and string unescaping agrees with it (for valid
// UTF-8: encoding/json replaces invalid bytes, params passes them as sent).
func FuzzParamsJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":"x\u00e9\"","b":[1,2,{"c":null}],"d":true,"e":-1.5e+3}`,
		`[1,2]`, `"s"`, `01`, `1.`, `{"a":}`, `{"a" 1}`, `{"\ud83d\ude00":"\ud83d"}`, ` {"a" : [ ] } `,
		"{\"a\":\"\x01\"}", `{"a":1,}`, `[[[[[[]]]]]]`, `nul`, `-`, `1e`, `{"a":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ours := validJSON(b, 10000)
		if ref := json.Valid(b); ours != ref {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", b, ours, ref)
		}
		if !ours || !utf8.Valid(b) {
			return // encoding/json replaces invalid UTF-8 with U+FFFD; params passes it as sent
		}
		var ref map[string]json.RawMessage
		if json.Unmarshal(b, &ref) != nil {
			return // not an object
		}
		got := map[string]string{}
		msg := visitJSONObject(b, 10000, func(rawKey, value []byte) bool {
			key, ok := appendJSONUnquote(nil, rawKey)
			if !ok {
				t.Fatalf("key %q of a valid document did not unquote", rawKey)
			}
			if _, dup := got[string(key)]; !dup {
				got[string(key)] = string(value)
			}
			return true
		})
		if msg != "" {
			t.Fatalf("visitJSONObject(%q): %s", b, msg)
		}
		if len(got) != len(ref) {
			t.Fatalf("%q: %d members, encoding/json %d", b, len(got), len(ref))
		}
		for k, v := range got {
			if _, ok := ref[k]; !ok {
				t.Fatalf("%q: member %q not in encoding/json's %v", b, k, ref)
			}
			if len(v) > 0 && v[0] == '"' {
				var want string
				if json.Unmarshal([]byte(v), &want) != nil {
					t.Fatalf("value %q", v)
				}
				have, ok := appendJSONUnquote(nil, []byte(v[1:len(v)-1]))
				if !ok || string(have) != want {
					t.Fatalf("unquote %s = %q, encoding/json %q", v, have, want)
				}
			}
		}
	})
}
