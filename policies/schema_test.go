package policies

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// TestEveryPolicyPublishesItsSchema checks each built-in policy's schema:
// valid JSON, draft 2020-12, an object refusing unknown fields, and exactly
// the property names the config decoder knows, with their types.
func TestEveryPolicyPublishesItsSchema(t *testing.T) {
	want := map[string]map[string]string{
		"headers":          {"request": "object", "response": "object"},
		"response":         {"status": "integer", "body": "string", "content_type": "string", "headers": "object"},
		"limit-count":      {"count": "integer", "window": "duration", "calendar": "string", "lease": "integer", "limits": "array", "window_type": "string", "draft_headers": "boolean", "key": "string", "key_missing": "string", "group": "string", "policy": "string", "dict": "string", "fault_tolerant": "boolean|null", "status": "integer", "message": "string", "headers": "boolean|null"},
		"limit-req":        {"rate": "string", "burst": "integer", "nodelay": "boolean", "key": "string", "key_missing": "string", "group": "string", "policy": "string", "dict": "string", "fault_tolerant": "boolean|null", "status": "integer", "message": "string", "headers": "boolean|null"},
		"limit-conn":       {"max": "integer", "slot_ttl": "duration", "key": "string", "key_missing": "string", "group": "string", "policy": "string", "dict": "string", "fault_tolerant": "boolean|null", "status": "integer", "message": "string", "headers": "boolean|null"},
		"cors":             {"allow_origins": "array", "allow_methods": "array", "allow_headers": "array", "expose_headers": "array", "allow_credentials": "boolean", "max_age": "duration"},
		"request-id":       {"header": "string", "format": "string", "trust_incoming": "boolean", "echo": "boolean|null"},
		"response-rewrite": {"status": "integer", "headers": "object", "body": "string|null", "body_escape": "string", "only_statuses": "array", "max_body": "size"},
	}
	// Every built-in policy publishes one (tests of this package register none of their own).
	if got, all := strings.Join(Schemas(), ","), strings.Join(Names(), ","); got != all {
		t.Errorf("Schemas() = %s, registered: %s", got, all)
	}
	for name, props := range want {
		raw, ok := Schema(name)
		if !ok {
			t.Errorf("%s: no schema", name)
			continue
		}
		var s map[string]any
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Errorf("%s: invalid JSON: %v\n%s", name, err, raw)
			continue
		}
		if s["$schema"] != schemaDialect || s["type"] != "object" || s["additionalProperties"] != false {
			t.Errorf("%s: header %v %v %v", name, s["$schema"], s["type"], s["additionalProperties"])
		}
		got := s["properties"].(map[string]any)
		if len(got) != len(props) {
			t.Errorf("%s: properties %v, want %v", name, keys(got), props)
		}
		for p, typ := range props {
			ps, ok := got[p].(map[string]any)
			if !ok {
				t.Errorf("%s: no property %q", name, p)
				continue
			}
			if kind := kindOf(ps); kind != typ {
				t.Errorf("%s.%s: %s, want %s", name, p, kind, typ)
			}
			if d, _ := ps["description"].(string); d == "" {
				t.Errorf("%s.%s: no description (desc tag)", name, p)
			}
		}
	}
	if _, ok := Schema("nosuch"); ok {
		t.Error("a schema for an unknown policy")
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// kindOf names a property schema's type: "integer", "boolean|null", or
// "duration"/"size" for the anyOf of those two config types.
func kindOf(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		var parts []string
		for _, p := range t {
			parts = append(parts, p.(string))
		}
		return strings.Join(parts, "|")
	}
	if alts, ok := s["anyOf"].([]any); ok && len(alts) == 2 {
		first := alts[0].(map[string]any)
		if first["pattern"] == durationPattern {
			return "duration"
		}
		if first["type"] == "integer" && alts[1].(map[string]any)["pattern"] == sizePattern {
			return "size"
		}
	}
	return "?"
}

type inner struct {
	A string `yaml:"a"`
}

type Embedded struct {
	E int `yaml:"e"`
}

type generatorCase struct {
	Str      string          `yaml:"str" desc:"a string"`
	Int      int64           `yaml:"int"`
	Uint     uint16          `yaml:"uint"`
	Float    float64         `yaml:"float"`
	Bool     bool            `yaml:"bool"`
	Ptr      *int            `yaml:"ptr"`
	List     []string        `yaml:"list"`
	Map      map[string]int  `yaml:"map"`
	Nested   inner           `yaml:"nested"`
	Nested2  []inner         `yaml:"nested2"`
	Dur      config.Duration `yaml:"dur"`
	Size     config.Size     `yaml:"size"`
	Any      any             `yaml:"any"`
	Enum     string          `yaml:"enum" enum:"x|y"`
	NoTag    string
	Skipped  string `yaml:"-"`
	private  string
	Embedded `yaml:",inline"`
	MapList  map[string][]bool `yaml:"map_list"`
}

func TestSchemaGenerator(t *testing.T) {
	_ = generatorCase{}.private
	s := schemaOf(reflect.TypeOf(generatorCase{}))
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Properties map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ prop, want string }{
		{"str", `{"description":"a string","type":"string"}`},
		{"int", `{"type":"integer"}`},
		{"uint", `{"type":"integer","minimum":0}`},
		{"float", `{"type":"number"}`},
		{"bool", `{"type":"boolean"}`},
		{"ptr", `{"type":["integer","null"]}`},
		{"list", `{"type":"array","items":{"type":"string"}}`},
		{"map", `{"type":"object","additionalProperties":{"type":"integer"}}`},
		{"nested", `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`},
		{"nested2", `{"type":"array","items":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}`},
		{"any", `{}`},
		{"enum", `{"type":"string","enum":["x","y"]}`},
		{"notag", `{"type":"string"}`},
		{"e", `{"type":"integer"}`},
		{"map_list", `{"type":"object","additionalProperties":{"type":"array","items":{"type":"boolean"}}}`},
	}
	for _, tc := range cases {
		if g := string(got.Properties[tc.prop]); g != tc.want {
			t.Errorf("%s: %s\n want %s", tc.prop, g, tc.want)
		}
	}
	for _, absent := range []string{"Skipped", "skipped", "private"} {
		if _, ok := got.Properties[absent]; ok {
			t.Errorf("%s is in the schema", absent)
		}
	}
	if len(got.Properties) != len(cases)+2 { // dur and size, checked below
		t.Errorf("%d properties: %v", len(got.Properties), got.Properties)
	}
	if !strings.Contains(string(got.Properties["dur"]), `"const":0`) || !strings.Contains(string(got.Properties["size"]), `"minimum":0`) {
		t.Errorf("dur %s size %s", got.Properties["dur"], got.Properties["size"])
	}
}

// The patterns accept what config's decoders accept, on a corpus of both.
func TestSchemaPatternsAgreeWithDecoders(t *testing.T) {
	dur := regexp.MustCompile(durationPattern)
	for _, s := range []string{"0", "5s", "1m30s", "250ms", "1.5h", ".5s", "2us", "3µs", "1h2m3s4ms5us6ns", " 5s ", "+5s",
		"5", "-5s", "s", "5x", "1.2.3s", "", "5 s", "1e3s", "5S"} {
		_, err := config.ParseDuration(s)
		if dur.MatchString(s) != (err == nil) {
			t.Errorf("duration %q: pattern %v, ParseDuration error %v", s, dur.MatchString(s), err)
		}
	}
	size := regexp.MustCompile(sizePattern)
	for _, s := range []string{"0", "1024", "1m", "10MiB", "512KiB", "1 GiB", "3tb", "7B", "2k",
		"-1", "1.5m", "MiB", "10 MiBs", "1mi", "", "1e3", "5 x"} {
		_, err := config.ParseSize(s)
		if size.MatchString(s) != (err == nil) {
			t.Errorf("size %q: pattern %v, ParseSize error %v", s, size.MatchString(s), err)
		}
	}
}

// TestSchemaNamesAreTheDecoders checks the schema's property names against
// config.DecodePolicyConfig itself (schema.go repeats its naming rule):
// every property is a field the decoder knows, and a name outside the
// schema is refused.
func TestSchemaNamesAreTheDecoders(t *testing.T) {
	for _, name := range Schemas() {
		raw, _ := Schema(name)
		var s struct{ Properties map[string]json.RawMessage }
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		var yml strings.Builder
		yml.WriteString("{ name: " + name + ", config: { ")
		for p := range s.Properties {
			yml.WriteString(p + ": ~, ") // null: the field's default, whatever its type
		}
		yml.WriteString("} }")
		dst := reflect.New(configTypeOf(name)).Interface()
		if err := config.DecodePolicyConfig(specOf(t, yml.String()), dst); err != nil {
			t.Errorf("%s: the decoder refuses a schema property: %v", name, err)
		}
		if err := config.DecodePolicyConfig(specOf(t, "{ name: "+name+", config: { not_in_schema: 1 } }"), dst); err == nil {
			t.Errorf("%s: the decoder takes a field the schema does not list", name)
		}
	}
}

// Regression: limit-req and limit-conn published limit-count's policy
// enum (the field is in the config they share), redis-lease included,
// which they refuse. Each schema lists what its policy's config accepts.
func TestLimitSchemasListTheirOwnPolicyValues(t *testing.T) {
	base := map[string]string{"limit-count": "count: 1, window: 1s", "limit-req": "rate: 1r/s", "limit-conn": "max: 1"}
	for name, want := range map[string]string{"limit-count": "local,redis,redis-lease", "limit-req": "local,redis", "limit-conn": "local,redis"} {
		raw, _ := Schema(name)
		var s struct {
			Properties map[string]struct{ Enum []string }
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.Properties["policy"].Enum, ","); got != want {
			t.Errorf("%s: policy enum %s, want %s", name, got, want)
		}
		// The oracle: newLimitBase. Without a redis section the Redis
		// values fail for that reason, not as values it does not take.
		for _, v := range []string{"local", "redis", "redis-lease"} {
			_, err := Build(specOf(t, `{ name: `+name+`, config: { `+base[name]+`, policy: `+v+` } }`), limitEnv(t, nil))
			accepted := err == nil || strings.Contains(err.Error(), "needs the top-level redis section")
			if listed := strings.Contains(","+want+",", ","+v+","); accepted != listed {
				t.Errorf("%s: policy %s: Build says %v, schema lists it: %v", name, v, err, listed)
			}
		}
	}
}
