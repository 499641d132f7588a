package config

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// largeConfig returns a configuration of n routes over n/50+1 upstreams,
// each route with a parameter path, methods and a policy.
func largeConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("listen: 127.0.0.1:8080\nshared_dicts: {limits: 10MiB}\nupstreams:\n")
	ups := n/50 + 1
	for i := 0; i < ups; i++ {
		fmt.Fprintf(&b, "  - name: svc%d\n    targets:\n      - addr: 10.0.%d.1:8080\n      - addr: 10.0.%d.2:8080\n        weight: 2\n"+
			"    timeouts: {connect: 2s}\n    health:\n      active: {path: /healthz}\n", i, i%250, i%250)
	}
	b.WriteString("routes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n    match:\n      hosts: [svc%d.example.com]\n      paths: [\"/api/v1/r%d/{id}\", /api/v1/r%d/*]\n"+
			"      methods: [GET, POST]\n    upstream: svc%d\n    policies:\n      - name: headers\n        config: {response: {set: {X-Route: r%d}}}\n",
			i, i%ups, i, i, i%ups, i)
	}
	return []byte(b.String())
}

func TestLargeConfig(t *testing.T) {
	cfg, err := Parse(largeConfig(1000), "large.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routes.Len() != 1000 || len(cfg.Upstreams) != 21 {
		t.Fatalf("%d routes, %d upstreams", cfg.Routes.Len(), len(cfg.Upstreams))
	}
}

// BenchmarkParse measures loading a configuration (a reload) beside plain
// yaml.Unmarshal into the same types: no strictness, no lines, no
// validation — the floor of what decoding the YAML costs.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{10, 1000} {
		data := largeConfig(n)
		b.Run(fmt.Sprintf("routes=%d/Parse", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(data, "bench.yaml"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("routes=%d/yaml.Unmarshal", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var cfg Config
				if err := yaml.Unmarshal(data, &cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeJSON is what the Admin API's answers cost: one route
// (every write of a route answers it) and the whole config of 1,000 routes
// (GET /config), from the values and through yaml.v3's node tree.
func BenchmarkEncodeJSON(b *testing.B) {
	cfg, err := Parse(largeConfig(1000), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    any
	}{{"route", cfg.Routes.At(7)}, {"config=1000", cfg}} {
		b.Run(c.name+"/direct", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EncodeJSON(c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/nodes", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := encodeJSONByNodes(c.v, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
