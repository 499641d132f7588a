package engine_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// bigConfig is n routes with two policies each, over a few upstreams: the
// Admin API's 10,000-route case.
func bigConfig(tb testing.TB, n int) *config.Config {
	var b strings.Builder
	b.WriteString("upstreams:\n")
	for u := 0; u < 10; u++ {
		fmt.Fprintf(&b, "  - {name: u%d, targets: [{addr: 127.0.0.1:%d}]}\n", u, 9000+u)
	}
	b.WriteString("global_policies: [{name: request-id}]\nroutes:\n")
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/svc%d/*", i)
		if i%10 == 0 {
			path = fmt.Sprintf("/users%d/{id}/orders", i)
		}
		fmt.Fprintf(&b, "  - {name: r%d, match: {paths: [%q], methods: [GET, POST]}, upstream: u%d, policies: [{name: headers, config: {request: {set: {X-Route: r%d}}}}, {name: cors, config: {allow_origins: [\"*\"]}}]}\n", i, path, i%10, i)
	}
	cfg, err := config.Parse([]byte(b.String()), "big.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// BenchmarkApplyOneRouteOf10k is the Admin API's bar: one route of 10,000
// changed, validated and compiled (the swap is one atomic store). Each
// iteration edits the version the last one made; the retired version is
// released as the server would.
func BenchmarkApplyOneRouteOf10k(b *testing.B) {
	cfg := bigConfig(b, 10000)
	c := engine.NewCompiler(policies.Build)
	defer c.Close()
	if _, err := c.Compile(cfg); err != nil {
		b.Fatal(err)
	}
	docs := [2][]byte{
		[]byte(`{"match": {"paths": ["/svc5001/*"], "methods": ["GET"]}, "upstream": "u1", "policies": [{"name": "headers", "config": {"request": {"set": {"X-Route": "edited"}}}}]}`),
		[]byte(`{"match": {"paths": ["/svc5001/*"], "methods": ["GET", "POST"]}, "upstream": "u1", "policies": [{"name": "cors", "config": {"allow_origins": ["*"]}}]}`),
	}
	b.ReportAllocs()
	i := 0
	var worst time.Duration
	cpu0 := cpuTime()
	for b.Loop() {
		start := time.Now()
		next, _, err := cfg.PutRoute("r5001", docs[i%2], "body")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Compile(next); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(start))
		cfg = next
		i++
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
	// The process's CPU time per change, garbage collection included: on
	// a shared machine steadier than the wall clock.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(i), "cpu-µs/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
