package adminapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/adminapi"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/live"
	"github.com/sluice-gw/sluice/policies"
)

// BenchmarkPutRouteOf10k is one Admin API change as the churn cell makes
// it: PUT /routes/rN on a gateway of 10,000 routes, each with a policy,
// the change written back to a file (coalesced, as twenty a second are).
// Its B/op is the garbage a change leaves for the collector, whose marking
// of the live config is what changes cost the request path.
func BenchmarkPutRouteOf10k(b *testing.B) {
	var src strings.Builder
	src.WriteString("upstreams: [{name: up, targets: [{addr: 127.0.0.1:1}]}]\nroutes:\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&src, "  - {name: r%d, match: {paths: [/svc%d/*]}, upstream: up, policies: [{name: headers, config: {request: {set: {X-Route: r%d}}}}]}\n", i, i, i)
	}
	cfg, err := config.Parse([]byte(src.String()), "many.yaml")
	if err != nil {
		b.Fatal(err)
	}
	c := engine.NewCompiler(policies.Build)
	defer c.Close()
	snap, err := c.Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	es, err := engine.NewServer(engine.Options{Listen: "127.0.0.1:0", Workers: 1}, snap)
	if err != nil {
		b.Fatal(err)
	}
	store := live.New(live.Options{Server: es, Compiler: c, File: filepath.Join(b.TempDir(), "sluice.yaml")}, cfg, snap)
	defer store.Close()
	mux := http.NewServeMux()
	adminapi.Register(mux, adminapi.Options{Store: store, Authenticated: true, Schema: policies.Schema, Policies: policies.Schemas})
	h := adminapi.RequireToken(token, mux)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		i := (n * 7919) % 10000
		body := fmt.Sprintf(`{"match": {"paths": ["/churn%d/%d"]}, "upstream": "up"}`, i, n)
		req := httptest.NewRequest("PUT", fmt.Sprintf("/routes/r%d", i), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		n++
	}
}
