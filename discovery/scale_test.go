package discovery_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/discovery/consultest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The CPU bar: 1,000 services x 5 instances in the catalog, one
// instance flapping every second; the watching process's CPU. Slow to set
// up (5,000 registrations), so it runs only with SLUICE_SCALE=1; the
// services count can be changed with SLUICE_SCALE_SERVICES.
func TestScaleCatalogCPU(t *testing.T) {
	if os.Getenv("SLUICE_SCALE") != "1" {
		t.Skip("set SLUICE_SCALE=1 to run the 1,000-service CPU measurement")
	}
	services := 1000
	if n := os.Getenv("SLUICE_SCALE_SERVICES"); n != "" {
		fmt.Sscan(n, &services)
	}
	// One blocking query per watched service: more connections than the
	// agent's default 200 per client.
	agent := consultest.StartWith(t, "-hcl", "limits { http_max_conns_per_client = 8192 }")
	client := newClient(t, agent.Addr())
	var yml strings.Builder
	fmt.Fprintf(&yml, "consul: {address: \"{consul}\", rate_limit: 10}\nupstreams:\n")
	for s := range services {
		for i := range 5 {
			err := client.Agent().ServiceRegister(&api.AgentServiceRegistration{
				ID: fmt.Sprintf("s%d-%d", s, i), Name: fmt.Sprintf("s%d", s), Address: fmt.Sprintf("10.%d.%d.%d", s/250, s%250, i+1), Port: 80,
				Check: &api.AgentServiceCheck{CheckID: fmt.Sprintf("c%d-%d", s, i), TTL: "1h", Status: api.HealthPassing},
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		fmt.Fprintf(&yml, "  - name: s%d\n    discovery: {type: consul, service: s%d}\n", s, s)
	}
	// The baseline: this process idle before any watch exists. The rig's
	// lb groups read a clock given to them, as the gateway's do (the
	// engine's cached clock): lb's own 1 ms coarse clock, which cost about
	// 4.7% of a core here idle, runs in no gateway.
	time.Sleep(time.Second)
	base0, baseWall0 := cpuTime(), time.Now()
	time.Sleep(10 * time.Second)
	baseline := (cpuTime() - base0).Seconds() / time.Since(baseWall0).Seconds()
	start := time.Now()
	r := startRig(t, agent, parseConfig(t, agent.Addr(), yml.String()))
	t.Logf("%d services: Configure+Bind took %v", services, time.Since(start))
	waitFor(t, 60*time.Second, func() (bool, string) {
		n := 0
		for _, g := range r.groups {
			if g.Snapshot().Len() == 5 {
				n++
			}
		}
		return n == services, fmt.Sprintf("%d of %d upstreams have their 5 targets", n, services)
	})
	time.Sleep(2 * time.Second) // let the first answers settle
	ch := r.appliedCh("s0")
	const seconds = 20
	cpu0, wall0 := cpuTime(), time.Now()
	for i := range seconds {
		status := api.HealthCritical
		if i%2 == 1 {
			status = api.HealthPassing
		}
		t0 := time.Now()
		if err := client.Agent().UpdateTTL("c0-0", "", status); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("flap %d not applied", i)
		}
		time.Sleep(time.Second - time.Since(t0))
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	share := cpu.Seconds() / wall.Seconds()
	t.Logf("%d services x 5 instances, one flapping every second for %v: this process used %v CPU = %.2f%% of one core; idle baseline %.2f%%; discovery's share %.2f%%",
		services, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), 100*share, 100*baseline, 100*(share-baseline))
	var reqs uint64
	for _, s := range r.m.Status().Sources {
		reqs += s.Requests
	}
	t.Logf("queries to Consul in all: %d", reqs)
}
