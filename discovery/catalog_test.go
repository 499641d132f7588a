package discovery_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/discovery/consultest"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/internal/freeport"
	"github.com/sluice-gw/sluice/policies"
)

func register(t testing.TB, c *api.Client, id, addr string, port int, tags ...string) {
	t.Helper()
	err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: id, Name: "users", Address: addr, Port: port, Tags: tags,
		Check: &api.AgentServiceCheck{CheckID: "check-" + id, TTL: "1h", Status: api.HealthPassing},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setCheck(t testing.TB, c *api.Client, id, status string) {
	t.Helper()
	if err := c.Agent().UpdateTTL("check-"+id, "", status); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogRegisterDeregisterFailingCheck(t *testing.T) {
	agent := consultest.Start(t)
	r := startRig(t, agent, parseConfig(t, agent.Addr(), `consul: {address: "{consul}"}
upstreams:
  - name: users
    discovery: {type: consul, service: users, tag: v2}
  - name: all
    discovery: {type: consul, service: users, allow_empty: true}
`))
	register(t, r.client, "u1", "10.0.0.1", 8080, "v2")
	r.waitRotation("users", "10.0.0.1:8080*1")
	register(t, r.client, "u2", "", 8081, "v2", "weight=3")     // Node.Address: 127.0.0.1
	register(t, r.client, "u3", "fd00::3", 8080, "v1")          // not v2
	register(t, r.client, "u4", "10.0.0.4", 8080, "v2", "down") // listed, out of rotation
	r.waitRotation("users", "10.0.0.1:8080*1 127.0.0.1:8081*3")
	r.waitRotation("all", "10.0.0.1:8080*1 127.0.0.1:8081*3 [fd00::3]:8080*1")

	setCheck(t, r.client, "u1", api.HealthCritical)
	r.waitRotation("users", "127.0.0.1:8081*3")
	setCheck(t, r.client, "u1", api.HealthPassing)
	r.waitRotation("users", "10.0.0.1:8080*1 127.0.0.1:8081*3")
	if err := r.client.Agent().ServiceDeregister("u2"); err != nil {
		t.Fatal(err)
	}
	r.waitRotation("users", "10.0.0.1:8080*1")

	// The last passing instance failing would empty the upstream: refused.
	setCheck(t, r.client, "u1", api.HealthCritical)
	r.waitRotation("all", "[fd00::3]:8080*1")
	r.stayRotation("users", "10.0.0.1:8080*1", 200*time.Millisecond)
	s := r.source("consul:users?tag=v2")
	if s.State != discovery.StateOK || s.Changes < 5 {
		t.Fatalf("status %+v", s)
	}
}

// backend answers its name.
func backend(t *testing.T, name string) (string, int) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "127.0.0.1", l.Addr().(*net.TCPAddr).Port
}

// gatewayYAML is a gateway whose only upstream follows the catalog;
// {balancer} lets a reload rebuild its lb group.
const gatewayYAML = `listen: "{listen}"
workers: 2
consul: {address: "{consul}"}
upstreams:
  - name: users
    balancer: {balancer}
    discovery: {type: consul, service: users, tag: v2}
routes:
  - match: {paths: ["/"]}
    upstream: users
`

// The gateway's traffic follows the catalog, through the wiring the binary
// uses (Configure, Prepare, Compile, Bind), across reloads that keep and
// that rebuild the lb group.
func TestEndToEndTrafficFollowsTheCatalog(t *testing.T) {
	agent := consultest.Start(t)
	client := newClient(t, agent.Addr())
	hostA, portA := backend(t, "A")
	hostB, portB := backend(t, "B")
	listen := freeport.Addr(t)
	cfgFor := func(balancer string) *config.Config {
		return parseConfig(t, agent.Addr(), strings.NewReplacer("{listen}", listen, "{balancer}", balancer).Replace(gatewayYAML))
	}

	register(t, client, "a", hostA, portA, "v2")
	m := discovery.New(discovery.Options{Logf: t.Logf})
	defer m.Close()
	cfg := cfgFor("round_robin")
	if err := m.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	compiler := engine.NewCompiler(policies.Build)
	defer compiler.Close()
	snap, err := compiler.Compile(m.Prepare(cfg))
	if err != nil {
		t.Fatal(err)
	}
	m.Bind(compiler.Upstreams())
	srv, err := engine.NewServer(engine.Options{Listen: listen, Workers: 2, Logf: t.Logf}, snap)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	}()

	hc := &http.Client{Timeout: 2 * time.Second}
	get := func() string {
		resp, err := hc.Get("http://" + listen + "/")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Sprintf("%d", resp.StatusCode)
		}
		return string(b)
	}
	// seen returns the backends answering n requests, sorted and joined.
	seen := func(n int) string {
		set := map[string]bool{}
		for range n {
			set[get()] = true
		}
		var out []string
		for k := range set {
			out = append(out, k)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	expect := func(want string) {
		t.Helper()
		waitFor(t, 5*time.Second, func() (bool, string) {
			got := seen(10)
			return got == want, "traffic went to " + got + ", want " + want
		})
	}
	expect("A")
	register(t, client, "b", hostB, portB, "v2")
	expect("A,B")
	setCheck(t, client, "a", api.HealthCritical)
	expect("B")

	// Reloads: the same balancer (the group is kept and the compile
	// rewrites its targets) and another (a new group): both keep the
	// discovered targets.
	for _, bal := range []string{"round_robin", "least_conn"} {
		next := cfgFor(bal)
		if err := m.Configure(next); err != nil {
			t.Fatal(err)
		}
		s, err := compiler.Compile(m.Prepare(next))
		if err != nil {
			t.Fatal(err)
		}
		m.Bind(compiler.Upstreams())
		srv.Swap(s)
		if got := seen(10); got != "B" {
			t.Fatalf("after a reload (%s) traffic went to %s, want B", bal, got)
		}
	}
	setCheck(t, client, "a", api.HealthPassing)
	expect("A,B")
	if err := client.Agent().ServiceDeregister("b"); err != nil {
		t.Fatal(err)
	}
	expect("A")
}
