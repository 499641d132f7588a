package policies

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONWalkers(t *testing.T) {
	doc := []byte(` {"a": 1, "b" : {"c": [1, {"d": "x\"}"}], "e": null}, "f\\"  : true, "g": -1.5e3, "h": "}"} `)
	if !json.Valid(doc) {
		t.Fatal("test document is not JSON")
	}
	v := jsonTrim(doc)
	var keys, vals []string
	jsonFields(v, func(k, val []byte) bool {
		keys = append(keys, string(k))
		vals = append(vals, string(val))
		return true
	})
	if got := strings.Join(keys, "|"); got != `a|b|f\\|g|h` {
		t.Fatalf("keys %s", got)
	}
	if got := strings.Join(vals, "|"); got != `1|{"c": [1, {"d": "x\"}"}], "e": null}|true|-1.5e3|"}"` {
		t.Fatalf("values %s", got)
	}
	for _, tc := range []struct {
		path string
		want string
		ok   bool
	}{
		{"a", "1", true},
		{"b.e", "null", true},
		{"b.c", `[1, {"d": "x\"}"}]`, true},
		{"b.c.d", "", false}, // no index into arrays
		{"nope", "", false},
		{"a.b", "", false},
	} {
		got, ok := jsonPath(v, strings.Split(tc.path, "."))
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("%s: %q %v", tc.path, got, ok)
		}
	}
	for _, tc := range []struct {
		doc   string
		depth int
	}{{`1`, 0}, {`{}`, 1}, {`[[[]]]`, 3}, {`{"a":"[[[["}`, 1}, {`[{"a":[{}]},[]]`, 4}} {
		if d := jsonDepth([]byte(tc.doc)); d != tc.depth {
			t.Errorf("depth of %s: %d, want %d", tc.doc, d, tc.depth)
		}
	}
}

func TestJSONTextAndStrings(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{`"plain"`, "plain"}, {`"a\"b\u00e9\n"`, "a\"bé\n"}, {`12.5`, "12.5"}, {`true`, "true"},
	} {
		got, ok := appendJSONText(nil, []byte(tc.v))
		if !ok || string(got) != tc.want {
			t.Errorf("%s: %q %v", tc.v, got, ok)
		}
	}
	for _, v := range []string{`{}`, `[1]`, `null`} {
		if _, ok := appendJSONText(nil, []byte(v)); ok {
			t.Errorf("%s gave text", v)
		}
	}
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n ctl\x01 é \xff"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s is not JSON: %v", s, got, err)
		}
		if !strings.Contains(s, "\xff") && back != s {
			t.Errorf("%q came back as %q", s, back)
		}
	}
	if got := string(percentEncodeTail([]byte("/x/a b/?&=#é"), 3)); got != "/x/a%20b%2F%3F%26%3D%23%C3%A9" {
		t.Errorf("percent-encoded %s", got)
	}
}

func TestMergerRules(t *testing.T) {
	var m merger
	m.reset()
	noFilter := &fieldFilter{}
	m.mergeFields([]byte(`{"a":1,"b":2}`), noFilter)
	m.mergeFields([]byte(`{"b":3,"c":4}`), &fieldFilter{mapping: map[string][]byte{"c": []byte("d")}})
	m.group([]byte("g"), []byte(`{"x":1,"y":2}`), &fieldFilter{allow: map[string]struct{}{"y": {}}})
	m.group([]byte("a"), []byte(`[1]`), noFilter) // a group key collides too: later wins
	if got := string(m.appendObject(nil)); got != `{"a":[1],"b":3,"d":4,"g":{"y":2}}` {
		t.Fatalf("merged %s", got)
	}
	// Many fields: the table grows and keeps every key once.
	m.reset()
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 500; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + itoa(i) + `":` + itoa(i))
	}
	b.WriteString("}")
	m.mergeFields([]byte(b.String()), noFilter)
	m.mergeFields([]byte(`{"k7":"again"}`), noFilter)
	var out map[string]any
	if err := json.Unmarshal(m.appendObject(nil), &out); err != nil || len(out) != 500 || out["k7"] != "again" {
		t.Fatalf("%d fields, k7=%v, %v", len(out), out["k7"], err)
	}
}

func TestCallTemplateParsing(t *testing.T) {
	index := map[string]int{"user": 0, "cart": 1}
	tpl, err := parseCallTemplate("/o/{{resp.user.id}}/{{resp.cart.items.n}}?x={arg_x}&y={{resp.user.id}}", index)
	if err != nil {
		t.Fatal(err)
	}
	if len(tpl.deps) != 2 || tpl.deps[0] != 0 || tpl.deps[1] != 1 {
		t.Fatalf("deps %v", tpl.deps)
	}
	for _, tc := range []struct{ src, want string }{
		{"/{{resp.later.id}}", `no call "later" before this one`},
		{"/{{resp.}}", `must name a call`},
		{"/{{resp.user..id}}", `has an empty key`},
		{"/{{resp.user.id", `is not closed`},
		{"/{nope}", `unknown variable "nope"`},
	} {
		if _, err := parseCallTemplate(tc.src, index); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.src, err, tc.want)
		}
	}
}

// testMergeParts are three backend answers of a typical aggregate.
var testMergeParts = [][]byte{
	[]byte(`{"user":{"id":7,"name":"Ann","email":"ann@example.com"},"plan":"pro","secret":"s"}`),
	[]byte(`{"data":{"items":[{"sku":"k1","qty":1},{"sku":"k2","qty":3}],"total":2}}`),
	[]byte(`{"recommendations":[{"id":1},{"id":2},{"id":3}],"generated":"2026-11-30T05:00:00Z"}`),
}

var itemsKey, dataItems = []byte("items"), []string{"data", "items"}

func mergeTestParts(m *merger, out []byte, deny *fieldFilter, none *fieldFilter) []byte {
	m.reset()
	m.mergeFields(jsonTrim(testMergeParts[0]), deny)
	items, _ := jsonPath(jsonTrim(testMergeParts[1]), dataItems)
	m.group(itemsKey, items, none)
	m.mergeFields(jsonTrim(testMergeParts[2]), none)
	return m.appendObject(out[:0])
}

// BenchmarkAggregateMerge is the CPU of merging three answers (validation,
// depth check, target, deny, merge, output) beside the baseline of
// encoding/json maps doing the same.
func BenchmarkAggregateMerge(b *testing.B) {
	deny := &fieldFilter{deny: map[string]struct{}{"secret": {}}}
	none := &fieldFilter{}
	b.Run("impl=sluice", func(b *testing.B) {
		var m merger
		var out []byte
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range testMergeParts {
				if !json.Valid(p) || jsonDepth(p) > 64 {
					b.Fatal("invalid")
				}
			}
			out = mergeTestParts(&m, out, deny, none)
		}
	})
	b.Run("impl=encoding-json-maps", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			merged := map[string]any{}
			var parts [3]map[string]any
			for i, p := range testMergeParts {
				if err := json.Unmarshal(p, &parts[i]); err != nil {
					b.Fatal(err)
				}
			}
			for k, v := range parts[0] {
				if k != "secret" {
					merged[k] = v
				}
			}
			merged["items"] = parts[1]["data"].(map[string]any)["items"]
			for k, v := range parts[2] {
				merged[k] = v
			}
			if _, err := json.Marshal(merged); err != nil {
				b.Fatal(err)
			}
		}
	})
}
