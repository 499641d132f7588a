package config

import (
	"errors"
	"testing"
	"time"
)

type limitConfig struct {
	Count  int      `yaml:"count"`
	Window Duration `yaml:"window"`
	Key    string   `yaml:"key"`
	Burst  Size     `yaml:"burst"`
	Rules  []struct {
		Name  string `yaml:"name"`
		Limit int    `yaml:"limit"`
	} `yaml:"rules"`
	Common `yaml:",inline"`
	Extra  map[string]any `yaml:"extra"`
	Hidden string         `yaml:"-"`
}

type Common struct {
	Dict string `yaml:"dict"`
}

const policyYAML = `
routes:
  - match: {paths: [/a]}
    policies:
      - name: headers
      - name: limit
        config:
          count: 10
          window: 1m
          dict: limits
          rules:
            - name: a
              limit: 3
            - name: b
              limit: x
          extra: {nested: [1, two, {three: 3.0}], flag: true}
global_policies:
  - name: limit
    config:
      cout: 5
      window: 10
      Hidden: x
`

func TestDecodePolicyConfig(t *testing.T) {
	cfg, err := Parse([]byte(policyYAML), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A policy without config leaves dst unchanged.
	keep := limitConfig{Count: 7}
	if err := DecodePolicyConfig(cfg.Routes.At(0).Policies[0], &keep); err != nil || keep.Count != 7 {
		t.Fatalf("absent config: %v %+v", err, keep)
	}
	var lc limitConfig
	err = DecodePolicyConfig(cfg.Routes.At(0).Policies[1], &lc)
	want := `p.yaml:15: routes[0].policies[1].config.rules[1].limit: must be an integer, got "x"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if lc.Count != 10 || lc.Window.Std() != time.Minute || lc.Dict != "limits" || len(lc.Rules) != 2 || lc.Rules[0].Limit != 3 {
		t.Fatalf("decoded %+v", lc)
	}
	nested, ok := lc.Extra["nested"].([]any)
	if !ok || len(nested) != 3 || nested[0] != 1 || nested[1] != "two" || lc.Extra["flag"] != true {
		t.Fatalf("generic values: %#v", lc.Extra)
	}
	if m, ok := nested[2].(map[string]any); !ok || m["three"] != 3.0 {
		t.Fatalf("nested map: %#v", nested[2])
	}

	err = DecodePolicyConfig(cfg.GlobalPolicies[0], &lc)
	want = `p.yaml:20: global_policies[0].config: unknown field "cout" (did you mean "count"?)
p.yaml:21: global_policies[0].config.window: must be a duration like "5s", "1m30s" or "250ms", got "10"
p.yaml:22: global_policies[0].config: unknown field "Hidden"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatal("policy config errors must wrap ErrInvalid")
	}
	if err := DecodePolicyConfig(cfg.GlobalPolicies[0], lc); !errors.Is(err, ErrNotPointer) {
		t.Fatalf("non-pointer: %v", err)
	}
}

func TestFieldError(t *testing.T) {
	cfg, err := Parse([]byte(policyYAML), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec := cfg.Routes.At(0).Policies[1]
	cases := []struct {
		field, want string
	}{
		{"count", `p.yaml:8: routes[0].policies[1].config.count: must be > 0`},
		{"rules[1].limit", `p.yaml:15: routes[0].policies[1].config.rules[1].limit: must be > 0`},
		{"rules[1]", `p.yaml:14: routes[0].policies[1].config.rules[1]: must be > 0`},
		{"rules[9].limit", `p.yaml:11: routes[0].policies[1].config.rules[9].limit: must be > 0`},
		{"missing", `p.yaml:8: routes[0].policies[1].config.missing: must be > 0`},
		{"", `p.yaml:8: routes[0].policies[1].config: must be > 0`},
		{"extra.nested[2].three", `p.yaml:16: routes[0].policies[1].config.extra.nested[2].three: must be > 0`},
	}
	for _, c := range cases {
		if got := FieldError(spec, c.field, "must be > 0").Error(); got != c.want {
			t.Errorf("FieldError(%q):\n got %s\nwant %s", c.field, got, c.want)
		}
	}
	// Without a config the policy's own line is used.
	noConfig := cfg.Routes.At(0).Policies[0]
	if got := FieldErrorf(noConfig, "status", "must be %d..%d", 100, 599).Error(); got != `p.yaml:5: routes[0].policies[0].config.status: must be 100..599` {
		t.Errorf("got %s", got)
	}
	if got := FieldError(PolicySpec{Name: "x"}, "a", "bad").Error(); got != "config.a: bad" {
		t.Errorf("spec built in Go: %s", got)
	}
}
