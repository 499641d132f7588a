package engine

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// countingPolicy is a policy that counts its builds and cleanups.
type countingPolicy struct {
	cleaned *atomic.Int32
	done    atomic.Bool
}

func (p *countingPolicy) Priority() int                 { return 0 }
func (p *countingPolicy) Install(c *ChainBuilder) error { return nil }
func (p *countingPolicy) Cleanup() {
	if p.done.Swap(true) {
		panic("cleaned up twice")
	}
	p.cleaned.Add(1)
}

type policyCounter struct {
	built, cleaned atomic.Int32
	byScope        map[string]int
}

func (pc *policyCounter) factory(spec config.PolicySpec, env *Env) (Policy, error) {
	if spec.Name == "bad" {
		return nil, config.FieldError(spec, "", "refused")
	}
	pc.built.Add(1)
	return &countingPolicy{cleaned: &pc.cleaned}, nil
}

func compileBase(t testing.TB, routes int) (*Compiler, *policyCounter, *config.Config, *Snapshot) {
	t.Helper()
	var b strings.Builder
	b.WriteString("upstreams: [{name: u, targets: [{addr: 127.0.0.1:9}]}, {name: v, targets: [{addr: 127.0.0.1:10}]}]\n")
	b.WriteString("global_policies: [{name: g}]\nroutes:\n")
	for i := 0; i < routes; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, match: {paths: [/s%d/*]}, upstream: u, policies: [{name: p}]}\n", i, i)
	}
	cfg, err := config.Parse([]byte(b.String()), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pc := &policyCounter{}
	c := NewCompiler(pc.factory)
	t.Cleanup(c.Close)
	snap, err := c.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, pc, cfg, snap
}

func routeNamed(s *Snapshot, name string) *Route {
	for _, r := range s.routes.All() {
		if r != nil && r.Name == name {
			return r
		}
	}
	return nil
}

func lookup(t testing.TB, s *Snapshot, path string) string {
	t.Helper()
	slot, _, ok := s.table.Lookup([]byte("x"), []byte(path), []byte("GET"), nil)
	if !ok {
		return ""
	}
	return s.routes.At(slot).Name
}

// An edit of one route compiles that route only: the others keep their
// compiled form and policies, the global policies are not built again.
func TestCompileKeepsUntouchedRoutes(t *testing.T) {
	c, pc, cfg, s1 := compileBase(t, 100)
	if got := pc.built.Load(); got != 101 {
		t.Fatalf("first compile built %d policies, want 101", got)
	}
	next, _, err := cfg.PutRoute("r7", []byte(`{"match": {"paths": ["/seven/*"]}, "upstream": "v", "policies": [{"name": "p"}]}`), "body")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.Compile(next)
	if err != nil {
		t.Fatal(err)
	}
	if got := pc.built.Load(); got != 102 {
		t.Fatalf("the edit built %d policies, want 1", got-101)
	}
	if routeNamed(s2, "r8") != routeNamed(s1, "r8") || routeNamed(s2, "r7") == routeNamed(s1, "r7") {
		t.Fatal("the untouched route must be the same compiled route, the edited one a new one")
	}
	if lookup(t, s2, "/seven/x") != "r7" || lookup(t, s2, "/s7/x") != "" || lookup(t, s1, "/s7/x") != "r7" || lookup(t, s2, "/s8/x") != "r8" {
		t.Fatal("the route table does not follow the edit, or the old version changed")
	}
	// Retiring the old version cleans up the replaced route's policies
	// only: the others live on in the new version.
	s1.cleanup()
	if got := pc.cleaned.Load(); got != 1 {
		t.Fatalf("retiring the old version cleaned up %d policies, want 1", got)
	}
	s2.cleanup()
	if got := pc.cleaned.Load(); got != 102 {
		t.Fatalf("retiring both cleaned up %d, want all 102", got)
	}
}

// A refused edit changes nothing: the next edit compiles against the last
// accepted version, and the refused version's policies are cleaned up.
func TestCompileRefusedEditChangesNothing(t *testing.T) {
	c, pc, cfg, s1 := compileBase(t, 10)
	bad, _, err := cfg.PutRoute("r3", []byte(`{"match": {"paths": ["/s3/*"]}, "upstream": "u", "policies": [{"name": "p"}, {"name": "bad"}]}`), "body")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile(bad); err == nil || !strings.Contains(err.Error(), "routes[3].policies[1].config: refused") {
		t.Fatalf("refused policy: %v", err)
	}
	if pc.cleaned.Load() != 1 {
		t.Fatalf("the refused version's policy was not cleaned up: %d", pc.cleaned.Load())
	}
	conflict, _, err := cfg.PutRoute("new", []byte(`{"match": {"paths": ["/s4/*"]}, "upstream": "u"}`), "body")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Compile(conflict)
	if err == nil || !strings.Contains(err.Error(), `routes[10].match: matches the same requests as routes[4] ("r4")`) {
		t.Fatalf("conflict: %v", err)
	}
	next, _, _ := cfg.DeleteRoute("r0")
	s2, err := c.Compile(next)
	if err != nil {
		t.Fatal(err)
	}
	if lookup(t, s2, "/s0/") != "" || lookup(t, s2, "/s4/") != "r4" || lookup(t, s1, "/s0/") != "r0" {
		t.Fatal("delete")
	}
}

// TestCompileNoGrowthAfterManyEdits: 10,000 edits that add, replace and
// delete routes, each version retired after the next is in force, leave
// the compiler with as many slots as routes and no policy alive but the
// current version's.
func TestCompileNoGrowthAfterManyEdits(t *testing.T) {
	c, pc, cfg, snap := compileBase(t, 50)
	var ms runtime.MemStats
	heapAt := func() uint64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var base uint64
	for i := 0; i < 10000; i++ {
		if i == 1000 {
			base = heapAt()
		}
		var next *config.Config
		var err error
		name := fmt.Sprintf("e%d", i%20)
		switch i % 3 {
		case 0, 1:
			next, _, err = cfg.PutRoute(name, []byte(fmt.Sprintf(`{"match": {"paths": ["/e%d/%d"]}, "upstream": "u", "policies": [{"name": "p"}]}`, i%20, i)), "body")
		case 2:
			next, _, err = cfg.DeleteRoute(name)
			if err != nil {
				continue // not there now
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(next)
		if err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
		snap.cleanup()
		cfg, snap = next, s
	}
	live := pc.built.Load() - pc.cleaned.Load()
	if want := int32(1 + cfg.Routes.Len()); live != want {
		t.Fatalf("%d policies alive after the edits, want the current version's %d", live, want)
	}
	if c.slots.Len() > cfg.Routes.Len()+20 || len(c.free) > 20 {
		t.Fatalf("slots grew: %d slots, %d free, %d routes", c.slots.Len(), len(c.free), cfg.Routes.Len())
	}
	if grown := int64(heapAt()) - int64(base); grown > 4<<20 {
		t.Fatalf("the heap grew by %d bytes over 9,000 edits", grown)
	}
}

// Versions may retire in any order (a long request keeps an old one):
// a route's policies are cleaned up once every version that has them has
// retired, not before, whichever retires last.
func TestCompileRetiresOutOfOrder(t *testing.T) {
	c, pc, cfg, s1 := compileBase(t, 10)
	edit := func(cfg *config.Config, path string) (*config.Config, *Snapshot) {
		t.Helper()
		next, _, err := cfg.PutRoute("r7", []byte(`{"match": {"paths": ["`+path+`"]}, "upstream": "u", "policies": [{"name": "p"}]}`), "body")
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(next)
		if err != nil {
			t.Fatal(err)
		}
		return next, s
	}
	cfg2, s2 := edit(cfg, "/seven/*")
	_, s3 := edit(cfg2, "/siete/*")
	s2.cleanup() // version 2's r7 is in version 2 only
	if got := pc.cleaned.Load(); got != 1 {
		t.Fatalf("retiring version 2 cleaned up %d policies, want its own r7's 1", got)
	}
	s3.cleanup() // the newest: a stop; version 1 still runs requests
	if got := pc.cleaned.Load(); got != 2 {
		t.Fatalf("retiring version 3 while 1 is live cleaned up %d, want 2 (r7 of version 3)", got)
	}
	s1.cleanup()
	if got := pc.cleaned.Load(); got != 1+1+11 {
		t.Fatalf("retiring every version cleaned up %d, want all 13", got)
	}
}

// A reload of unnamed routes (the unit found by name serves every
// unnamed route) drops each set of the last version exactly once:
// countingPolicy panics on a second cleanup.
func TestCompileUnnamedRoutesCleanedUpOnce(t *testing.T) {
	pc := &policyCounter{}
	c := NewCompiler(pc.factory)
	t.Cleanup(c.Close)
	parse := func(n int) *config.Config {
		var b strings.Builder
		b.WriteString("upstreams: [{name: u, targets: [{addr: 127.0.0.1:9}]}]\nroutes:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "  - {match: {paths: [/s%d/*]}, upstream: u, policies: [{name: p}]}\n", i)
		}
		cfg, err := config.Parse([]byte(b.String()), "unnamed.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	s1, err := c.Compile(parse(3))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.Compile(parse(4))
	if err != nil {
		t.Fatal(err)
	}
	s1.cleanup()
	if got := pc.cleaned.Load(); got != 3 {
		t.Fatalf("retiring version 1 cleaned up %d policies, want its 3", got)
	}
	s2.cleanup()
	if got := pc.cleaned.Load(); got != 7 {
		t.Fatalf("retiring both cleaned up %d, want 7", got)
	}
}
