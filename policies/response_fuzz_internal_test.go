package policies

import (
	"bytes"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/http1"
)

// responseSpec builds a `response` spec from Go strings, so that any
// byte reaches the factory (YAML text would escape or refuse some).
func responseSpec(contentType, name, value string) config.PolicySpec {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	headers := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{str(name), str(value)}}
	cfg := yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		str("body"), str("x"),
		str("content_type"), str(contentType),
		str("headers"), headers,
	}}
	return config.PolicySpec{Name: "response", Config: cfg, Path: "routes[0].policies[0]"}
}

// FuzzResponseFieldsStayFields: whatever content_type and header the
// config gives, an accepted `response` writes exactly the field lines it
// was given — one or two, each "Name: value" with a valid name and value —
// and never a line of the config's making. A refused one names the field.
func FuzzResponseFieldsStayFields(f *testing.F) {
	f.Add("text/plain", "X-A", "1")
	f.Add("text/plain\r\nX-Injected: 1", "X-A", "1")
	f.Add("", "Content-Type", "a/b\r\nX-Injected: 1")
	f.Add("", "content-type", "a/b\nX-Injected: 1")
	f.Add("a/b", "X-A", "v\rX-Injected: 1")
	f.Add("a/b\x00", "X-A", "v")
	f.Add("a/b", "X-A\r\nX-Injected", "v")
	f.Fuzz(func(t *testing.T, contentType, name, value string) {
		pol, err := newResponse(responseSpec(contentType, name, value), nil)
		if err != nil {
			if !strings.Contains(err.Error(), "config.") {
				t.Fatalf("error does not name a field: %v", err)
			}
			return
		}
		fields := pol.(*responsePolicy).fields
		want := 2 // Content-Type (the body is set) and the header
		if strings.EqualFold(name, "Content-Type") {
			want = 1 // the header is the Content-Type
		}
		lines := bytes.Split(bytes.TrimSuffix(fields, []byte("\r\n")), []byte("\r\n"))
		if len(lines) != want || !bytes.HasSuffix(fields, []byte("\r\n")) {
			t.Fatalf("fields %q: %d lines, want %d", fields, len(lines), want)
		}
		for _, l := range lines {
			n, v, ok := bytes.Cut(l, []byte(": "))
			if !ok || !http1.ValidFieldName(string(n)) || !http1.ValidFieldValue(string(v)) {
				t.Fatalf("fields %q: line %q is not a valid field line", fields, l)
			}
		}
	})
}
