package fleet_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery/consultest"
	"github.com/sluice-gw/sluice/fleet"
	"github.com/sluice-gw/sluice/live"
)

func localConfig(t *testing.T, consulAddr, dumpDir string, required bool) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
consul: {address: %s, dump_dir: %q, start_timeout: 1s}
config_source: {type: consul, prefix: f, required: %v}
`, consulAddr, dumpDir, required)), "node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func kvOf(t *testing.T, addr string) *api.KV {
	c, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	return c.KV()
}

func put(t *testing.T, kv *api.KV, key, value string) {
	t.Helper()
	if _, err := kv.Put(&api.KVPair{Key: key, Value: []byte(value)}, nil); err != nil {
		t.Fatal(err)
	}
}

// A write made against what this node last saw of a key fails when
// another writer changed the key since: live.ErrStale, nothing written.
func TestWriteThroughChecksAndSets(t *testing.T) {
	agent := consultest.Start(t)
	kv := kvOf(t, agent.Addr())
	put(t, kv, "f/upstreams/u", `{"targets": [{"addr": "127.0.0.1:9"}]}`)
	put(t, kv, "f/routes/r", `{"match": {"paths": ["/r"]}, "upstream": "u"}`)
	src, err := fleet.New(localConfig(t, agent.Addr(), "", false), nil)
	if err != nil {
		t.Fatal(err)
	}
	running, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if running.Routes.Len() != 1 || running.Routes.At(0).Name != "r" {
		t.Fatalf("loaded %+v", running.Routes)
	}
	next, _, err := running.PutRoute("r", []byte(`{"match": {"paths": ["/r2"]}, "upstream": "u"}`), "body")
	if err != nil {
		t.Fatal(err)
	}
	put(t, kv, "f/routes/r", `{"match": {"paths": ["/other"]}, "upstream": "u"}`) // another node
	if err := src.WriteThrough(running, next); !errors.Is(err, live.ErrStale) {
		t.Fatalf("a write over another's: %v", err)
	}
	p, _, _ := kv.Get("f/routes/r", nil)
	if !strings.Contains(string(p.Value), "/other") {
		t.Fatalf("the refused write changed the key: %s", p.Value)
	}
	// A new route: its key must not exist.
	put(t, kv, "f/routes/n", `{"match": {"paths": ["/n"]}, "upstream": "u"}`)
	next, _, _ = running.PutRoute("n", []byte(`{"match": {"paths": ["/n2"]}, "upstream": "u"}`), "body")
	if err := src.WriteThrough(running, next); !errors.Is(err, live.ErrStale) {
		t.Fatalf("creating a key another node created: %v", err)
	}
	if st := src.Status(); st.Conflicts != 2 {
		t.Fatalf("status %+v", st)
	}
}

// A start with Consul down: the dump, or, required, a clear failure.
func TestLoadWithConsulDown(t *testing.T) {
	agent := consultest.Start(t)
	kv := kvOf(t, agent.Addr())
	put(t, kv, "f/config", "global_policies: [{name: request-id}]\n")
	put(t, kv, "f/routes/r", `{"match": {"paths": ["/r"]}, "policies": [{"name": "response"}]}`)
	dump := t.TempDir()
	src, _ := fleet.New(localConfig(t, agent.Addr(), dump, false), nil)
	if _, err := src.Load(); err != nil {
		t.Fatal(err)
	}
	agent.Stop()
	src2, _ := fleet.New(localConfig(t, agent.Addr(), dump, false), nil)
	cfg, err := src2.Load()
	if err != nil || cfg.Routes.Len() != 1 || len(cfg.GlobalPolicies) != 1 || src2.Status().State != fleet.StateDump {
		t.Fatalf("from the dump: %v %+v", err, src2.Status())
	}
	src3, _ := fleet.New(localConfig(t, agent.Addr(), dump, true), nil)
	if _, err := src3.Load(); !errors.Is(err, fleet.ErrUnreachable) || !strings.Contains(err.Error(), "required") {
		t.Fatalf("required: %v", err)
	}
	src4, _ := fleet.New(localConfig(t, agent.Addr(), t.TempDir(), false), nil)
	if _, err := src4.Load(); !errors.Is(err, fleet.ErrUnreachable) || !strings.Contains(err.Error(), "no dump") {
		t.Fatalf("no dump: %v", err)
	}
}

// The node's own file may not hold the fleet's sections.
func TestNodeFileRefusesFleetSections(t *testing.T) {
	_, err := config.Parse([]byte(`
consul: {address: 127.0.0.1:8500}
config_source: {type: consul, prefix: f}
routes: [{match: {paths: [/x]}, policies: [{name: response}]}]
`), "node.yaml")
	if err == nil || !strings.Contains(err.Error(), "routes: comes from Consul") {
		t.Fatalf("%v", err)
	}
	_, err = config.Parse([]byte("config_source: {type: consul}\n"), "node.yaml")
	if err == nil || !strings.Contains(err.Error(), "needs the top-level consul section") || !strings.Contains(err.Error(), "config_source.prefix: is required") {
		t.Fatalf("%v", err)
	}
}

// Keys that name no resource, and the errors of a key's value, name the key.
func TestAssembleNamesTheKey(t *testing.T) {
	local := localConfig(t, "127.0.0.1:8500", "", false)
	_, err := config.AssembleFleet(local, []config.FleetPart{
		{Key: "f/routes/a", Value: []byte("{\"upstream\": \"x\",\n \"max_body\": \"lots\"}")},
		{Key: "f/stuff/b", Value: []byte("{}")},
		{Key: "f/config", Value: []byte("listen: 1.2.3.4:5\n")},
	})
	for _, want := range []string{
		"consul:f/routes/a:2: routes[0].max_body:",
		"consul:f/stuff/b: names no resource",
		`consul:f/config:1: unknown field "listen"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not contain %q", err, want)
		}
	}
}
