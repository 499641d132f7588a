package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

// Which edits take replaceInPlace's way: routes replaced where they were,
// with their names, and nothing else.
func TestCompileInPlaceOnlyForRoutesReplacedWhereTheyWere(t *testing.T) {
	c, _, cfg, _ := compileBase(t, 30)
	put := func(cfg *config.Config, name, doc string) *config.Config {
		t.Helper()
		next, _, err := cfg.PutRoute(name, []byte(doc), "body")
		if err != nil {
			t.Fatal(err)
		}
		return next
	}
	for _, tc := range []struct {
		what    string
		edit    func(*config.Config) *config.Config
		inPlace bool
	}{
		{"one route replaced", func(c *config.Config) *config.Config {
			return put(c, "r4", `{"match": {"paths": ["/four/*"]}, "upstream": "v", "policies": [{"name": "p"}]}`)
		}, true},
		{"two routes replaced", func(c *config.Config) *config.Config {
			return put(put(c, "r1", `{"match": {"paths": ["/one/*"]}, "upstream": "u"}`), "r29", `{"match": {"paths": ["/last/*"]}, "upstream": "u"}`)
		}, true},
		{"a route added", func(c *config.Config) *config.Config {
			return put(c, "new", `{"match": {"paths": ["/new/*"]}, "upstream": "u"}`)
		}, false},
		{"a route deleted", func(c *config.Config) *config.Config {
			next, _, err := c.DeleteRoute("r2")
			if err != nil {
				t.Fatal(err)
			}
			return next
		}, false},
		{"an upstream edited", func(c *config.Config) *config.Config {
			next, _, err := c.PutUpstream("u", []byte(`{"targets": [{"addr": "127.0.0.1:11"}], "balancer": "least_conn"}`), "body")
			if err != nil {
				t.Fatal(err)
			}
			return next
		}, false},
		{"nothing but a route's revision", func(c *config.Config) *config.Config {
			return put(c, "r5", `{"match": {"paths": ["/s5/*"]}, "upstream": "u", "policies": [{"name": "p"}]}`)
		}, true},
	} {
		next := tc.edit(cfg)
		p, err := c.Prepare(next)
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if p.k.inPlace != tc.inPlace {
			t.Errorf("%s: in place %v, want %v", tc.what, p.k.inPlace, tc.inPlace)
		}
		p.Commit()
		cfg = next
	}
}

// Random edits compiled incrementally (in place or by the walk) serve
// exactly what a compile of the same config from nothing serves, and
// leave alive exactly the policies of the version in force.
func TestCompileIncrementalMatchesAFreshCompile(t *testing.T) {
	c, pc, cfg, snap := compileBase(t, 40)
	rng := rand.New(rand.NewPCG(1, 2))
	inPlace := 0
	for i := 0; i < 400; i++ {
		var next *config.Config
		var err error
		name := fmt.Sprintf("r%d", rng.IntN(50)) // r40..r49 are added, then edited or deleted
		switch rng.IntN(10) {
		case 0:
			next, _, err = cfg.DeleteRoute(name)
			if err != nil {
				continue
			}
		case 1:
			next, _, err = cfg.PutUpstream("v", []byte(fmt.Sprintf(`{"targets": [{"addr": "127.0.0.1:%d"}]}`, 10+i%3)), "body")
		default:
			up := []string{"u", "v"}[rng.IntN(2)]
			next, _, err = cfg.PutRoute(name, []byte(fmt.Sprintf(`{"match": {"paths": ["/e%d/%d/*"]}, "upstream": %q, "policies": [{"name": "p"}]}`, i, rng.IntN(3), up)), "body")
		}
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Prepare(next)
		if err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
		if p.k.inPlace {
			inPlace++
		}
		s := p.Commit()
		snap.cleanup()
		cfg, snap = next, s

		fresh := NewCompiler((&policyCounter{}).factory)
		want, err := fresh.Compile(cfg.Clone())
		if err != nil {
			t.Fatalf("edit %d, fresh compile: %v", i, err)
		}
		for j, r := range cfg.Routes.All() {
			for _, path := range []string{fmt.Sprintf("/s%d/x", j), r.Match.Paths[0][:len(r.Match.Paths[0])-1] + "x"} {
				if got, w := lookup(t, s, path), lookup(t, want, path); got != w {
					t.Fatalf("edit %d: %s goes to %q, a fresh compile says %q", i, path, got, w)
				}
			}
			got := routeNamed(s, r.Name)
			if got == nil || got.upstream == nil || got.upstream.Name != r.Upstream || got.upstream != s.upstreams[r.Upstream] {
				t.Fatalf("edit %d: route %s does not proxy to this version's %s", i, r.Name, r.Upstream)
			}
		}
		want.cleanup()
		fresh.Close()
	}
	if inPlace < 100 {
		t.Fatalf("only %d of 400 edits were compiled in place", inPlace)
	}
	if live, want := pc.built.Load()-pc.cleaned.Load(), int32(1+cfg.Routes.Len()); live != want {
		t.Fatalf("%d policies alive, want the version in force's %d", live, want)
	}
}

// Routes replaced in different chunks of the revisions (cow.Changed skips
// the chunks two versions share) are each found and compiled in place,
// and nothing else is compiled again.
func TestCompileInPlaceFindsEditsInEveryChunk(t *testing.T) {
	c, pc, cfg, _ := compileBase(t, 700)
	next := cfg
	edited := []int{3, 255, 256, 511, 699}
	for _, i := range edited {
		var err error
		doc := fmt.Sprintf(`{"match": {"paths": ["/moved%d/*"]}, "upstream": "v", "policies": [{"name": "p"}]}`, i)
		if next, _, err = next.PutRoute(fmt.Sprintf("r%d", i), []byte(doc), "body"); err != nil {
			t.Fatal(err)
		}
	}
	built := pc.built.Load()
	p, err := c.Prepare(next)
	if err != nil {
		t.Fatal(err)
	}
	if !p.k.inPlace {
		t.Fatal("five routes replaced where they were: not compiled in place")
	}
	s := p.Commit()
	if got := pc.built.Load() - built; got != int32(len(edited)) {
		t.Fatalf("%d policies built, want one for each of the %d routes edited", got, len(edited))
	}
	for _, i := range edited {
		want := fmt.Sprintf("r%d", i)
		if got := lookup(t, s, fmt.Sprintf("/moved%d/x", i)); got != want {
			t.Fatalf("/moved%d/x goes to %q, want %s", i, got, want)
		}
		if got := lookup(t, s, fmt.Sprintf("/s%d/x", i)); got != "" {
			t.Fatalf("/s%d/x still goes to %q", i, got)
		}
	}
	if got := lookup(t, s, "/s300/x"); got != "r300" {
		t.Fatalf("/s300/x goes to %q, want r300", got)
	}
}
