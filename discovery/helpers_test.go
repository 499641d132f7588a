package discovery_test

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/discovery/consultest"
	"github.com/sluice-gw/sluice/lb"
)

// rig is a Manager watching a real Consul agent, with lb groups standing in
// for the engine's.
type rig struct {
	t      *testing.T
	agent  *consultest.Agent
	client *api.Client
	m      *discovery.Manager
	groups map[string]*lb.Upstream

	mu      sync.Mutex
	applied map[string]chan time.Time
}

func newClient(t testing.TB, addr string) *api.Client {
	c, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parseConfig parses yml with "{consul}" replaced by the agent's address.
func parseConfig(t testing.TB, addr, yml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(strings.ReplaceAll(yml, "{consul}", addr)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startRig starts a Manager on cfg and lb groups for its upstreams; agent
// may be nil when cfg points at something else.
func startRig(t *testing.T, agent *consultest.Agent, cfg *config.Config) *rig {
	t.Helper()
	r := &rig{t: t, agent: agent, groups: make(map[string]*lb.Upstream), applied: make(map[string]chan time.Time)}
	if agent != nil {
		r.client = newClient(t, agent.Addr())
	}
	r.m = discovery.New(discovery.Options{Logf: t.Logf, Applied: r.onApplied})
	t.Cleanup(r.m.Close)
	if err := r.m.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	prepared := r.m.Prepare(cfg)
	for _, u := range prepared.Upstreams {
		g, err := lb.NewUpstream(u.Name, lb.Config{Clock: time.Now}) // a clock given, as the engine gives its own
		if err != nil {
			t.Fatal(err)
		}
		specs := make([]lb.TargetSpec, len(u.Targets))
		for i, tg := range u.Targets {
			specs[i] = lb.TargetSpec{Addr: tg.Addr, Weight: tg.Weight}
		}
		if err := g.Update(specs); err != nil {
			t.Fatal(err)
		}
		r.groups[u.Name] = g
	}
	r.m.Bind(r.groups)
	return r
}

func (r *rig) onApplied(upstream string, _ int) {
	r.mu.Lock()
	ch := r.applied[upstream]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- time.Now():
		default:
		}
	}
}

// appliedCh returns a channel that receives the time of every Update
// discovery applies to upstream from now on.
func (r *rig) appliedCh(upstream string) chan time.Time {
	ch := make(chan time.Time, 1024)
	r.mu.Lock()
	r.applied[upstream] = ch
	r.mu.Unlock()
	return ch
}

// rotation returns the group's targets as "addr*weight", sorted.
// rotation is what lb may pick of an upstream while its targets are
// healthy: the targets not down, the backups only when no primary is left.
func rotation(g *lb.Upstream) string {
	var primary, backup []string
	for _, sp := range g.Snapshot().Specs() {
		switch {
		case sp.Down:
		case sp.Backup:
			backup = append(backup, fmt.Sprintf("%s*%d", sp.Addr, sp.Weight))
		default:
			primary = append(primary, fmt.Sprintf("%s*%d", sp.Addr, sp.Weight))
		}
	}
	out := primary
	if len(out) == 0 {
		out = backup
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// waitRotation waits until upstream's rotation is want.
func (r *rig) waitRotation(upstream, want string) {
	r.t.Helper()
	waitFor(r.t, 5*time.Second, func() (bool, string) {
		got := rotation(r.groups[upstream])
		return got == want, fmt.Sprintf("upstream %s rotation %q, want %q", upstream, got, want)
	})
}

// stayRotation checks that upstream's rotation stays want for d.
func (r *rig) stayRotation(upstream, want string, d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if got := rotation(r.groups[upstream]); got != want {
			r.t.Fatalf("upstream %s rotation %q, want it to stay %q", upstream, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) source(name string) discovery.SourceStatus {
	for _, s := range r.m.Status().Sources {
		if s.Source == name {
			return s
		}
	}
	r.t.Fatalf("no source %q in %+v", name, r.m.Status().Sources)
	return discovery.SourceStatus{}
}

func (r *rig) put(key, value string) {
	r.t.Helper()
	if _, err := r.client.KV().Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) del(key string) {
	r.t.Helper()
	if _, err := r.client.KV().Delete(key, nil); err != nil {
		r.t.Fatal(err)
	}
}

func waitFor(t testing.TB, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stringsReplace(s, old, new string) string { return strings.ReplaceAll(s, old, new) }
