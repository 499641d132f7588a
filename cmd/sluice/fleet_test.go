package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluice-gw/sluice/discovery/consultest"
	"github.com/sluice-gw/sluice/internal/freeport"
)

const fleetPrefix = "sluice/fleet"

// fleetNode starts a gateway whose configuration comes from Consul.
func fleetNode(t *testing.T, consulAddr, dumpDir string) *adminGateway {
	file := filepath.Join(t.TempDir(), "node.yaml")
	cfg := fmt.Sprintf(`listen: %s
workers: 1
drain_timeout: 2s
admin:
  listen: %s
consul: {address: %s, dump_dir: %s, start_timeout: 2s, retry_max: 1s}
config_source: {type: consul, prefix: %s}
`, freeport.Addr(t), freeport.Addr(t), consulAddr, dumpDir, fleetPrefix)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startAdminGateway(t, file)
}

// eventually polls fn until it returns "" or the deadline passes.
func eventually(t *testing.T, d time.Duration, fn func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := fn()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func serves(t *testing.T, g *adminGateway, path, want string) func() string {
	return func() string {
		got, err := get(&http.Client{Timeout: 2 * time.Second}, "http://"+g.addr+path)
		if err != nil || got != want {
			return fmt.Sprintf("%s%s answers %q (%v), want %q", g.addr, path, got, err, want)
		}
		return ""
	}
}

func fleetStatus(t *testing.T, g *adminGateway) map[string]any {
	_, body, _ := g.call(t, "GET", "/status", "")
	var st struct {
		Fleet map[string]any `json:"fleet"`
	}
	json.Unmarshal([]byte(body), &st)
	return st.Fleet
}

// TestFleetSharesOneConfiguration: two nodes on one Consul prefix. A file
// written with "sluice apply --consul" reaches both; an Admin API write on
// one reaches the other; a bad configuration put in Consul is refused by
// both, which keep serving and say why; a node started while Consul is
// down serves the last configuration it ran.
func TestFleetSharesOneConfiguration(t *testing.T) {
	agent := consultest.Start(t)
	up := startUpstream(t, "up", 0)
	whole := filepath.Join(t.TempDir(), "fleet.yaml")
	os.WriteFile(whole, []byte(fmt.Sprintf(`consul: {address: %s}
upstreams:
  - name: u
    targets: [{addr: %s}]
  - name: d
    discovery: {type: consul_kv, key: upstreams/d}
routes:
  - name: proxied
    match: {paths: ["/p/*"]}
    upstream: u
  - name: hello
    match: {paths: ["/hello"]}
    policies: [{name: response, config: {body: v1}}]
`, agent.Addr(), up.addr)), 0o600)
	var out, errb bytes.Buffer
	if code := cmdApply([]string{"-f", whole, "-consul", agent.Addr(), "-prefix", fleetPrefix}, &out, &errb); code != 0 {
		t.Fatalf("apply --consul: %s", errb.String())
	}
	if !strings.Contains(out.String(), "wrote 5 keys") {
		t.Fatalf("apply --consul: %s", out.String())
	}
	dumpA, dumpB := t.TempDir(), t.TempDir()
	a := fleetNode(t, agent.Addr(), dumpA)
	b := fleetNode(t, agent.Addr(), dumpB)
	for _, g := range []*adminGateway{a, b} {
		eventually(t, 5*time.Second, serves(t, g, "/hello", "v1"))
		eventually(t, 5*time.Second, serves(t, g, "/p/x", "up"))
	}

	// An Admin API write on a reaches b.
	st, body, _ := a.call(t, "PUT", "/routes/hello", `{"match": {"paths": ["/hello"]}, "policies": [{"name": "response", "config": {"body": "v2"}}]}`)
	if st != 200 {
		t.Fatalf("PUT on a: %d %s", st, body)
	}
	if got, _ := get(http.DefaultClient, "http://"+a.addr+"/hello"); got != "v2" {
		t.Fatalf("a after its own 200: %q", got)
	}
	eventually(t, 5*time.Second, serves(t, b, "/hello", "v2"))
	st, body, _ = b.call(t, "PUT", "/routes/extra", `{"match": {"paths": ["/extra"]}, "upstream": "u"}`)
	if st != 201 {
		t.Fatalf("PUT on b: %d %s", st, body)
	}
	eventually(t, 5*time.Second, serves(t, a, "/extra", "up"))

	// A bad configuration put in Consul by anyone: refused by both.
	kv := consulKV(t, agent.Addr())
	if _, err := kv.Put(&api.KVPair{Key: fleetPrefix + "/routes/bad", Value: []byte(`{"match": {"paths": ["/bad"]}, "upstream": "nope"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*adminGateway{a, b} {
		eventually(t, 5*time.Second, func() string {
			f := fleetStatus(t, g)
			if f["state"] != "refused" || !strings.Contains(fmt.Sprint(f["last_error"]), `consul:sluice/fleet/routes/bad:1: routes[3].upstream: unknown upstream "nope"`) {
				return fmt.Sprintf("fleet status %v", f)
			}
			return ""
		})
		eventually(t, time.Second, serves(t, g, "/hello", "v2"))
	}
	if _, err := kv.Delete(fleetPrefix+"/routes/bad", nil); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*adminGateway{a, b} {
		eventually(t, 5*time.Second, func() string {
			if f := fleetStatus(t, g); f["state"] != "ok" {
				return fmt.Sprintf("fleet status %v", f)
			}
			return ""
		})
	}

	// The metrics say the same (and parse).
	_, metrics, _ := a.call(t, "GET", "/metrics", "")
	if !strings.Contains(metrics, `sluice_discovery_source_up{source="consul_kv:upstreams/d",state="ok"} 1`) ||
		!strings.Contains(metrics, `sluice_fleet_up{prefix="sluice/fleet",state="ok"} 1`) ||
		!strings.Contains(metrics, `sluice_fleet_changes_refused_total{prefix="sluice/fleet"} 1`) {
		t.Fatalf("Consul metrics missing:\n%s", grepLines(metrics, "sluice_fleet")+grepLines(metrics, "sluice_discovery"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(strings.NewReader(metrics)); err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}

	// Consul down: a running node keeps serving; a node started now
	// serves its dump.
	agent.Stop()
	eventually(t, time.Second, serves(t, a, "/hello", "v2"))
	c := fleetNode(t, agent.Addr(), dumpB)
	eventually(t, 5*time.Second, serves(t, c, "/hello", "v2"))
	eventually(t, 5*time.Second, serves(t, c, "/extra", "up"))
	t.Logf("a: %v; c: %v", fleetStatus(t, a), fleetStatus(t, c))
	if f := fleetStatus(t, c); f["state"] != "dump" && f["state"] != "failing" {
		t.Fatalf("node started from the dump: %v", f)
	}
}

func consulKV(t *testing.T, addr string) *api.KV {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.KV()
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
