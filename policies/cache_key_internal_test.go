package policies

import (
	"net/http"
	"slices"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
)

// TestCacheKeyTemplateBytes pins the bytes of a templated key (format
// c2): the shape and text come from engine.Template.AppendKey since it
// replaced the cache's own loop, and are the bytes that loop wrote (the
// same keys, checked against it), so the format keeps its tag and the
// entries already in Redis keep being read.
func TestCacheKeyTemplateBytes(t *testing.T) {
	g := enginetest.New(t, `shared_dicts: { cache: 4MiB }
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes: [ { name: api, match: { paths: ["/*"] }, upstream: up,
  policies: [ { name: cache, config: { key: "{arg_a}:{arg_b}{http_x_c}", vary: [V] } } ] } ]
`, Build, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	for _, req := range []string{
		"GET /k?a=x:&b=y HTTP/1.1\r\nHost: a\r\nX-C: |z\r\nV: 1\r\n\r\n",
		"GET /k?a=&b=y HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		g.Do(req)
	}
	v, ok := cachePolicies.Load("route:api/cache")
	if !ok {
		t.Fatal("no cache policy route:api/cache")
	}
	keys := v.(*cachePolicy).dict.Keys(0)
	slices.Sort(keys)
	want := []string{
		"c2|route:api/cache|GET|-|-|0,1,-,|:y", // no consumer, no V field
		"c2|route:api/cache|GET|-|1:1|2,1,2,|x::y|z",
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
}
