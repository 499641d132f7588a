package config

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func routesConfig(t *testing.T, n int) *Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("upstreams: [{name: up, targets: [{addr: 127.0.0.1:1}]}]\nroutes:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, match: {paths: [/r%d/*]}, upstream: up}\n", i, i)
	}
	cfg, err := Parse([]byte(b.String()), "routes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// RouteIndex through the shared index answers what a walk answers, for
// every version of a history with edits in place, additions, deletions
// and forks (versions edited twice, as after a refused change), whatever
// version asks first, asked from several goroutines at once.
func TestRouteIndexAgreesWithTheWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	versions := []*Config{routesConfig(t, 30)}
	for step := 0; step < 600; step++ {
		// Mostly the newest version, sometimes an older one: a fork.
		base := versions[len(versions)-1]
		if rng.IntN(4) == 0 {
			base = versions[rng.IntN(len(versions))]
		}
		name := fmt.Sprintf("r%d", rng.IntN(45))
		var next *Config
		var err error
		if rng.IntN(6) == 0 {
			if next, _, err = base.DeleteRoute(name); err != nil {
				continue
			}
		} else if next, _, err = base.PutRoute(name, []byte(fmt.Sprintf(`{"match": {"paths": ["/p%d/*"]}, "upstream": "up"}`, step)), "body"); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, next)
		// Ask some versions, in any order, some never: an index is built
		// by whichever asks first.
		var wg sync.WaitGroup
		for range 3 {
			v := versions[rng.IntN(len(versions))]
			q := fmt.Sprintf("r%d", rng.IntN(50))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, want := v.RouteIndex(q), v.walkRoutes(q); got != want {
					t.Errorf("step %d: RouteIndex(%s) = %d, the walk says %d", step, q, got, want)
				}
			}()
		}
		wg.Wait()
	}
	for vi, v := range versions {
		for q := range 50 {
			name := fmt.Sprintf("r%d", q)
			if got, want := v.RouteIndex(name), v.walkRoutes(name); got != want {
				t.Fatalf("version %d: RouteIndex(%s) = %d, the walk says %d", vi, name, got, want)
			}
		}
	}
}

// A Config whose Routes were replaced by hand after it was validated is
// walked: the index was made for the list it had.
func TestRouteIndexAfterRoutesReplacedByHand(t *testing.T) {
	cfg := routesConfig(t, 5)
	if cfg.RouteIndex("r3") != 3 {
		t.Fatal("r3 not found")
	}
	cfg.Routes = Routes(append([]*Route{{Name: "first"}}, cfg.Routes.Slice()...)...)
	if got := cfg.RouteIndex("first"); got != 0 {
		t.Fatalf("RouteIndex(first) = %d after the list was replaced, want 0", got)
	}
	if got := cfg.RouteIndex("r3"); got != 4 {
		t.Fatalf("RouteIndex(r3) = %d after the list was replaced, want 4", got)
	}
}
