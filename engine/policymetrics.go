package engine

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-gw/sluice/stats"
)

// Policy metrics: a policy factory declares counter families through its
// Env (Env.Counter), and the request path adds to them on the worker's own
// block of the engine's metric set, like the engine's own counters: no
// lock, no cache line another worker writes, no allocation. /metrics shows
// each family under the name the policy chose, with two labels the engine
// adds — route (the request's route) and policy (the policy's identity,
// Env.Identity) — besides the family's own label.
//
// Storage: one counter vector of the engine's set (policyCounters) holds
// every policy series of the process. A series is a block of consecutive
// indexes, one per value of the family's label, numbered in the
// process-wide registry of metrics.go (under its lock) by family, route
// and policy identity: a policy keeps its counts across reloads and edits,
// and every live server's vector is grown before the factory returns, so
// a snapshot carrying the counter is never published before its indexes
// exist.
//
// A route's policy has one series. A global policy runs on every route, so
// it has one series per route series (metrics.go): made for the routes
// numbered so far when the counter is declared, and for each route when it
// is numbered later; the request finds its block by its route's series
// number.
//
// Cardinality guard: a family holds at most maxPolicySeries series; later
// ones share the family's overflow series (route and policy "(overflow)"),
// and each is counted in sluice_metrics_series_overflow_total{vector="policy"}.

// maxPolicySeries caps the (route, policy) series of one family. A series
// costs one counter per label value per worker: 20,000 series of five
// values are 800 KiB per worker.
const maxPolicySeries = 20000

// CounterOpts declares a counter family a policy publishes (Env.Counter).
// Every policy that declares the same name must declare the same label and
// values, and they share the family.
type CounterOpts struct {
	// Name is the family's Prometheus name: "sluice_" then
	// [a-zA-Z0-9_:]*, ending in "_total", not one of the gateway's own
	// (sluice_requests_total...). Required.
	Name string
	// Help says what one count is. Required.
	Help string
	// Label names the family's own label ("result"), whose value Add
	// picks by index; "" for a family without one. It must not be route,
	// policy or le.
	Label string
	// Values are the label's values, distinct and non-empty; Add's value
	// argument indexes them. Exactly one (ignored) for a family without a
	// label: nil means that.
	Values []string
}

// PolicyCounter is a policy's series of a counter family, from
// Env.Counter. Add and Inc are for the request's worker; OffLoop hands out
// a handle for other goroutines. Safe for concurrent use in that sense; a
// nil *PolicyCounter counts nothing, so a policy built without an Env
// (tests) needs no special case.
type PolicyCounter struct {
	n    int32 // label values
	base int32 // a route policy's block
	// routes, for a global policy, holds its block by route series; nil
	// for a route policy.
	routes *atomic.Pointer[[]int32]
}

// Counter declares the policy's series of a counter family. Call it from
// the policy factory: the series exists, with every live server's storage
// grown, when it returns. The same identity (Env.Scope and Env.ID) and
// name give the same series again, so counts continue across reloads and
// edits. An error means o is not a valid family or conflicts with one
// declared before; factories return it.
func (e *Env) Counter(o CounterOpts) (*PolicyCounter, error) {
	values := o.Values
	if o.Label == "" {
		if len(values) > 1 {
			return nil, fmt.Errorf("metric %s: values without a label", o.Name)
		}
		values = []string{""}
	}
	if err := checkCounterOpts(o.Name, o.Help, o.Label, values); err != nil {
		return nil, err
	}
	route, global := "", false
	switch {
	case e.Scope == "global", strings.HasPrefix(e.Scope, "consumer:"):
		// A consumer's policies run on every route, as the globals do.
		global = true
	case strings.HasPrefix(e.Scope, "route:"):
		route = e.Scope[len("route:"):]
	}
	policy := e.Identity()

	registry.mu.Lock()
	defer registry.mu.Unlock()
	pr := &registry.policy
	f, err := pr.family(o.Name, o.Help, o.Label, values)
	if err != nil {
		return nil, err
	}
	c := &PolicyCounter{n: int32(len(values))}
	if global {
		c.routes = pr.globalTable(f, policy)
	} else {
		c.base = pr.seriesFor(f, route, policy)
	}
	pr.grow()
	return c, nil
}

// Inc adds one to value's count for the request. value indexes the
// family's Values; an index out of range is dropped and counted in
// sluice_metrics_dropped_writes_total. On the request's worker only (a
// handler, or a closure Offload resumes); never blocks or allocates.
func (c *PolicyCounter) Inc(x *Ctx, value int) { c.Add(x, value, 1) }

// Add adds n to value's count for the request; see Inc.
func (c *PolicyCounter) Add(x *Ctx, value int, n uint64) {
	if c == nil || x.cc == nil {
		return
	}
	w := x.cc.w
	w.m.AddIndexed(w.srv.metrics.policyCounters, c.index(x, value), n)
}

// index is value's index in the policy vector for x's route, or -1 (a
// write the vector drops and counts) for a value out of range.
func (c *PolicyCounter) index(x *Ctx, value int) int {
	if uint(value) >= uint(c.n) {
		return -1
	}
	base := c.base
	if c.routes != nil {
		series := seriesNone
		if x.route != nil {
			series = x.route.series
		}
		t := *c.routes.Load()
		if int(series) >= len(t) {
			return -1 // a route numbered after the table was read: not possible, as tables grow first
		}
		base = t[series]
	}
	return int(base) + value
}

// OffLoop returns a handle that adds to c from any goroutine (work
// submitted with Ctx.Go or inside Offload), for the request's route, with
// atomic adds on the engine set's shared block. Call it on the worker.
func (c *PolicyCounter) OffLoop(x *Ctx) OffLoopCounter {
	if c == nil || x.cc == nil {
		return OffLoopCounter{}
	}
	m := x.cc.w.srv.metrics
	base := c.index(x, 0)
	return OffLoopCounter{set: m.set, vec: m.policyCounters, base: int32(base), n: c.n}
}

// OffLoopCounter adds to a PolicyCounter's series from any goroutine. Its
// zero value counts nothing.
type OffLoopCounter struct {
	set  *stats.Set
	vec  stats.VecID
	base int32
	n    int32
}

// Add adds n to value's count. Safe for concurrent use; never blocks.
func (o OffLoopCounter) Add(value int, n uint64) {
	if o.set == nil || o.base < 0 {
		return
	}
	idx := -1
	if uint(value) < uint(o.n) {
		idx = int(o.base) + value
	}
	o.set.AddIndexed(o.vec, idx, n)
}

// --- Exposition ---

// PolicyFamily is a counter family the policies declared, for the /metrics
// exposition. Its slices are the registry's: read them, do not modify them.
type PolicyFamily struct {
	Name   string
	Help   string
	Label  string   // "" for a family without a label of its own
	Values []string // the label's values ([""] without a label)
	// Series are the family's (route, policy) series, in the order they
	// were made: the count of Values[v] is at index Base+v of the vector
	// Server.PolicyVec.
	Series []PolicySeries
}

// PolicySeries is one (route, policy) series of a family.
type PolicySeries struct {
	Route  string // the request's route; "(none)" for a 404, "(overflow)" past the guard
	Policy string // the policy's identity, Env.Identity
	Base   int
}

// AppendPolicyFamilies appends the process's policy counter families, in
// the order they were declared. The series slices are views of append-only
// lists, taken under the registry's lock, so a scrape reads them without
// it and without copying. Safe for concurrent use.
func AppendPolicyFamilies(dst []PolicyFamily) []PolicyFamily {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	for _, f := range registry.policy.order {
		dst = append(dst, PolicyFamily{Name: f.name, Help: f.help, Label: f.label, Values: f.values, Series: f.series})
	}
	return dst
}

// PolicyVec is the vector that holds the policies' counters (indexed by
// PolicySeries.Base + value), for the exposition.
func (s *Server) PolicyVec() stats.VecID { return s.metrics.policyCounters }

// PolicyCounterValue sums value's counts of the family called name over
// every route of the policy with that identity, on this server. For tests
// and status views; safe for concurrent use.
func (s *Server) PolicyCounterValue(name, identity, value string) uint64 {
	registry.mu.Lock()
	f := registry.policy.families[name]
	var series []PolicySeries
	v := -1
	if f != nil {
		series = f.series
		for i, val := range f.values {
			if val == value {
				v = i
			}
		}
	}
	registry.mu.Unlock()
	if v < 0 {
		return 0
	}
	var sn stats.Snapshot
	s.metrics.set.Snapshot(&sn)
	counts := sn.Vec(s.metrics.policyCounters)
	var sum uint64
	for _, se := range series {
		if se.Policy == identity && se.Base+v < len(counts) {
			sum += counts[se.Base+v]
		}
	}
	return sum
}

// --- Registry ---

// policyRegistry numbers the policy series of the process. Guarded by
// registry.mu (metrics.go).
type policyRegistry struct {
	families   map[string]*policyFamily
	order      []*policyFamily
	series     map[string]int32 // family \xff route \xff policy -> block
	size       int              // indexes handed out
	overflowed uint64
}

type policyFamily struct {
	name, help, label string
	values            []string
	series            []PolicySeries // append-only: scrapes read views of it
	overflow          int32          // the overflow series' block
	globals           map[string]*atomic.Pointer[[]int32]
}

// reservedMetricNames are names policies may not declare: the engine's own
// and those the exposition adds (ReserveMetricNames).
var reservedMetricNames sync.Map

// ReserveMetricNames keeps policies from declaring these metric names: an
// exporter calls it (from init) for the names it writes besides the
// engine's.
func ReserveMetricNames(names ...string) {
	for _, n := range names {
		reservedMetricNames.Store(n, true)
	}
}

var reserveEngineNames = sync.OnceFunc(func() {
	for _, d := range newEngineSet(1).set.Descs() {
		reservedMetricNames.Store(d.Name, true)
	}
})

func checkCounterOpts(name, help, label string, values []string) error {
	reserveEngineNames()
	switch {
	case !stats.ValidName(name, true) || !strings.HasPrefix(name, "sluice_") || !strings.HasSuffix(name, "_total"):
		return fmt.Errorf("metric %q: a policy counter's name is sluice_[a-zA-Z0-9_:]* ending in _total", name)
	case help == "":
		return fmt.Errorf("metric %s: help is required", name)
	case label != "" && (!stats.ValidName(label, false) || label == "route" || label == "policy" || label == "le" || strings.HasPrefix(label, "__")):
		return fmt.Errorf("metric %s: invalid label name %q (route and policy are the engine's)", name, label)
	case len(values) == 0:
		return fmt.Errorf("metric %s: label %s has no values", name, label)
	}
	if _, ok := reservedMetricNames.Load(name); ok {
		return fmt.Errorf("metric %s: the name is the gateway's own", name)
	}
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if label != "" && (v == "" || seen[v]) {
			return fmt.Errorf("metric %s: label %s: empty or repeated value %q", name, label, v)
		}
		seen[v] = true
	}
	return nil
}

// family returns the family called name, making it the first time; a
// declaration that differs from the first one is an error.
func (pr *policyRegistry) family(name, help, label string, values []string) (*policyFamily, error) {
	if f := pr.families[name]; f != nil {
		if f.label != label || strings.Join(f.values, "\xff") != strings.Join(values, "\xff") {
			return nil, fmt.Errorf("metric %s: declared with label %s%q before, now %s%q", name, f.label, f.values, label, values)
		}
		return f, nil
	}
	if pr.families == nil {
		pr.families = make(map[string]*policyFamily)
		pr.series = make(map[string]int32)
	}
	f := &policyFamily{name: name, help: help, label: label, values: append([]string(nil), values...),
		globals: make(map[string]*atomic.Pointer[[]int32])}
	f.overflow = pr.take(len(values))
	f.series = append(f.series, PolicySeries{Route: "(overflow)", Policy: "(overflow)", Base: int(f.overflow)})
	pr.families[name] = f
	pr.order = append(pr.order, f)
	return f, nil
}

// take hands out n indexes.
func (pr *policyRegistry) take(n int) int32 {
	base := pr.size
	pr.size += n
	return int32(base)
}

// seriesFor returns the block of (route, policy) in f, making it if new,
// or f's overflow block past the cap.
func (pr *policyRegistry) seriesFor(f *policyFamily, route, policy string) int32 {
	key := f.name + "\xff" + route + "\xff" + policy
	if b, ok := pr.series[key]; ok {
		return b
	}
	if len(f.series) > maxPolicySeries { // the overflow series is not counted
		pr.overflowed++
		pr.series[key] = f.overflow // counted once per series
		return f.overflow
	}
	b := pr.take(len(f.values))
	pr.series[key] = b
	f.series = append(f.series, PolicySeries{Route: route, Policy: policy, Base: int(b)})
	return b
}

// globalTable returns the blocks by route series of a global policy's
// series of f: one per route numbered so far, and later ones as routes
// are numbered (routeNumbered).
func (pr *policyRegistry) globalTable(f *policyFamily, policy string) *atomic.Pointer[[]int32] {
	if t := f.globals[policy]; t != nil {
		return t
	}
	names := registry.routes.names
	blocks := make([]int32, len(names), len(names)+64)
	for i, route := range names {
		blocks[i] = pr.seriesFor(f, route, policy)
	}
	t := new(atomic.Pointer[[]int32])
	t.Store(&blocks)
	f.globals[policy] = t
	return t
}

// routeNumbered gives every global policy's series a block for route
// series idx, just numbered for name. Tables grow in place while their
// capacity lasts: a reader holding a shorter header never reads the new
// element, and the new header is published after the element is written.
func (pr *policyRegistry) routeNumbered(idx int32, name string) {
	grew := false
	for _, f := range pr.order {
		for policy, t := range f.globals {
			old := *t.Load()
			blocks := old
			for int32(len(blocks)) < idx {
				blocks = append(blocks, f.overflow) // cannot happen: every number is announced
			}
			blocks = append(blocks, pr.seriesFor(f, name, policy))
			t.Store(&blocks)
			grew = true
		}
	}
	if grew {
		pr.grow()
	}
}

// grow makes every live server's policy vector cover the indexes handed
// out. Called with registry.mu held.
func (pr *policyRegistry) grow() {
	growLive(func(m *engineMetrics) stats.VecID { return m.policyCounters }, policyVecLen(pr.size))
}

// policyVecLen is the vector length that covers n indexes: a power of two,
// so that declaring series one by one grows rarely.
func policyVecLen(n int) int {
	c := 256
	for c < n {
		c *= 2
	}
	return c
}
