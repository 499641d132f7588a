package engine_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
	"github.com/sluice-gw/sluice/stats"
)

// testMetricFamily is the family the "test-metrics" policy publishes: the
// value named by the request's X-Result field is counted.
var testMetricFamily = engine.CounterOpts{
	Name:   "sluice_test_policy_total",
	Help:   "Requests the test-metrics policy saw, by X-Result.",
	Label:  "result",
	Values: []string{"a", "b", "c"},
}

// counterAllocs is what the "alloc" mode measured: the allocations of one
// PolicyCounter.Inc and one OffLoopCounter.Add on a real request.
var counterAllocs atomic.Value

func init() {
	policies.Register("test-metrics", func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
		var cfg struct {
			Mode string `yaml:"mode"`
		}
		if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
			return nil, err
		}
		c, err := env.Counter(testMetricFamily)
		if err != nil {
			return nil, err
		}
		return &metricsPolicy{counter: c, mode: cfg.Mode}, nil
	})
}

type metricsPolicy struct {
	counter *engine.PolicyCounter
	mode    string
}

func (p *metricsPolicy) Priority() int { return 0 }

func (p *metricsPolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
		v, _ := x.Header("X-Result")
		value := -1
		for i, name := range testMetricFamily.Values {
			if string(v) == name {
				value = i
			}
		}
		if p.mode == "alloc" {
			off := p.counter.OffLoop(x)
			counterAllocs.Store([2]float64{
				testing.AllocsPerRun(100, func() { p.counter.Inc(x, value) }),
				testing.AllocsPerRun(100, func() { off.Add(value, 1) }),
			})
		}
		p.counter.Inc(x, value)
		return engine.Continue
	})
	return nil
}

const metricsYAML = `listen: 127.0.0.1:1
upstreams:
  - name: up
    targets: [ { addr: 127.0.0.1:9 } ]
global_policies:
  - name: test-metrics
    id: everywhere
routes:
  - name: one
    match: { paths: ["/one/*"] }
    upstream: up
    policies:
      - name: test-metrics
  - name: two
    match: { paths: ["/two/*"] }
    upstream: up
    policies:
      - name: test-metrics
`

// policyCount reads one series of family name from srv: the count of
// value for (route, policy).
func policyCount(t *testing.T, srv *engine.Server, name, route, policy, value string) uint64 {
	t.Helper()
	var sn stats.Snapshot
	srv.Metrics().Snapshot(&sn)
	counts := sn.Vec(srv.PolicyVec())
	for _, f := range engine.AppendPolicyFamilies(nil) {
		if f.Name != name {
			continue
		}
		for _, s := range f.Series {
			if s.Route != route || s.Policy != policy {
				continue
			}
			for v, val := range f.Values {
				if val == value && s.Base+v < len(counts) {
					return counts[s.Base+v]
				}
			}
		}
	}
	return 0
}

func get(g *enginetest.Gateway, path, result string) {
	resp := g.Do("GET " + path + " HTTP/1.1\r\nHost: a\r\nX-Result: " + result + "\r\n\r\n")
	if resp.StatusCode != 200 {
		panic(fmt.Sprintf("GET %s: %d", path, resp.StatusCode))
	}
}

// TestPolicyCountersByRouteAndPolicy sends requests through a route
// policy on two routes and one global policy, and checks every series:
// a route policy counts on its route, the global one on the request's.
func TestPolicyCountersByRouteAndPolicy(t *testing.T) {
	g := enginetest.New(t, metricsYAML, policies.Build, nil)
	srv := g.Server()
	const name = "sluice_test_policy_total"
	before := func(route, policy, value string) uint64 { return policyCount(t, srv, name, route, policy, value) }
	// Series are the process's: another test may have counted on them.
	base := map[string]uint64{}
	key := func(r, p, v string) string { return r + "|" + p + "|" + v }
	for _, r := range []string{"one", "two"} {
		for _, v := range []string{"a", "b", "c"} {
			base[key(r, "route:"+r+"/test-metrics", v)] = before(r, "route:"+r+"/test-metrics", v)
			base[key(r, "global/everywhere", v)] = before(r, "global/everywhere", v)
		}
	}
	for range 3 {
		get(g, "/one/x", "a")
	}
	get(g, "/one/x", "b")
	for range 5 {
		get(g, "/two/x", "c")
	}
	get(g, "/two/x", "nope") // out of range: dropped, counted as such

	checks := []struct {
		route, policy, value string
		want                 uint64
	}{
		{"one", "route:one/test-metrics", "a", 3},
		{"one", "route:one/test-metrics", "b", 1},
		{"one", "route:one/test-metrics", "c", 0},
		{"two", "route:two/test-metrics", "c", 5},
		{"two", "route:two/test-metrics", "a", 0},
		{"one", "global/everywhere", "a", 3},
		{"one", "global/everywhere", "b", 1},
		{"two", "global/everywhere", "c", 5},
		{"two", "global/everywhere", "a", 0},
	}
	for _, c := range checks {
		got := policyCount(t, srv, name, c.route, c.policy, c.value) - base[key(c.route, c.policy, c.value)]
		if got != c.want {
			t.Errorf("%s{route=%q,policy=%q,result=%q} = %d, want %d", name, c.route, c.policy, c.value, got, c.want)
		}
	}
	if got := srv.PolicyCounterValue(name, "route:two/test-metrics", "c") - base[key("two", "route:two/test-metrics", "c")]; got != 5 {
		t.Errorf("PolicyCounterValue = %d, want 5", got)
	}
	if d := srv.Metrics().Dropped(); d != 2 { // the "nope" request, by the route's and the global policy
		t.Errorf("dropped writes = %d, want 2 (one out-of-range value, two policies)", d)
	}
}

// TestPolicyCountersSurviveReload checks that a policy's series keeps its
// count across a reload that builds the policy again, and that a route
// added by the reload gets the global policy's series at once.
func TestPolicyCountersSurviveReload(t *testing.T) {
	g := enginetest.New(t, metricsYAML, policies.Build, nil)
	srv := g.Server()
	const name = "sluice_test_policy_total"
	was := policyCount(t, srv, name, "one", "route:one/test-metrics", "b")
	get(g, "/one/x", "b")
	three := strings.Replace(metricsYAML, "routes:\n", "routes:\n  - name: reload-three\n    match: { paths: [\"/three/*\"] }\n    upstream: up\n", 1)
	if err := g.Reload(three); err != nil {
		t.Fatal(err)
	}
	get(g, "/one/x", "b")
	if got := policyCount(t, srv, name, "one", "route:one/test-metrics", "b") - was; got != 2 {
		t.Errorf("after a reload: %d, want 2", got)
	}
	threeWas := policyCount(t, srv, name, "reload-three", "global/everywhere", "a")
	get(g, "/three/x", "a")
	if got := policyCount(t, srv, name, "reload-three", "global/everywhere", "a") - threeWas; got != 1 {
		t.Errorf("a new route's global series: %d, want 1", got)
	}
}

// TestCounterDeclarationErrors checks what Env.Counter refuses.
func TestCounterDeclarationErrors(t *testing.T) {
	env := &engine.Env{Scope: "route:decl", ID: "p"}
	cases := []struct {
		name string
		opts engine.CounterOpts
		want string
	}{
		{"no _total", engine.CounterOpts{Name: "sluice_x", Help: "h"}, "ending in _total"},
		{"no prefix", engine.CounterOpts{Name: "x_total", Help: "h"}, "sluice_"},
		{"bad name", engine.CounterOpts{Name: "sluice x_total", Help: "h"}, "name"},
		{"no help", engine.CounterOpts{Name: "sluice_decl_total"}, "help"},
		{"engine's name", engine.CounterOpts{Name: "sluice_requests_total", Help: "h"}, "gateway's own"},
		{"route label", engine.CounterOpts{Name: "sluice_decl_total", Help: "h", Label: "route", Values: []string{"a"}}, "invalid label"},
		{"no values", engine.CounterOpts{Name: "sluice_decl_total", Help: "h", Label: "result"}, "no values"},
		{"repeated value", engine.CounterOpts{Name: "sluice_decl_total", Help: "h", Label: "result", Values: []string{"a", "a"}}, "repeated"},
		{"values without label", engine.CounterOpts{Name: "sluice_decl_total", Help: "h", Values: []string{"a", "b"}}, "without a label"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := env.Counter(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	if _, err := env.Counter(engine.CounterOpts{Name: "sluice_decl_ok_total", Help: "h", Label: "r", Values: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	_, err := env.Counter(engine.CounterOpts{Name: "sluice_decl_ok_total", Help: "h", Label: "r", Values: []string{"a", "b"}})
	if err == nil || !strings.Contains(err.Error(), "declared with") {
		t.Fatalf("a family declared again with other values: %v", err)
	}
	var nilCounter *engine.PolicyCounter
	nilCounter.Inc(nil, 0) // counts nothing, does not panic
}

// TestPolicySeriesOverflow declares more series of one family than the
// cap: the last ones share the overflow series, and each is counted once.
func TestPolicySeriesOverflow(t *testing.T) {
	opts := engine.CounterOpts{Name: "sluice_test_overflow_total", Help: "h"}
	before := engine.SeriesOverflow().Policies
	const past = 3
	for i := range engine.MaxPolicySeries + past {
		env := &engine.Env{Scope: fmt.Sprintf("route:r%d", i), ID: "p"}
		if _, err := env.Counter(opts); err != nil {
			t.Fatal(err)
		}
	}
	// Declaring an overflowed series again does not count it again.
	if _, err := (&engine.Env{Scope: "route:r0", ID: "p"}).Counter(opts); err != nil {
		t.Fatal(err)
	}
	if got := engine.SeriesOverflow().Policies - before; got != past {
		t.Fatalf("overflowed series = %d, want %d", got, past)
	}
	for _, f := range engine.AppendPolicyFamilies(nil) {
		if f.Name == opts.Name && len(f.Series) != engine.MaxPolicySeries+1 {
			t.Fatalf("%d series, want the cap plus the overflow series", len(f.Series))
		}
	}
}
