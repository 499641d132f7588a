package discovery

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/lb"
)

// TestTargetSpecFromKVValue follows upsync's KV values all the way to lb's
// TargetSpec: every server parameter arrives, nginx's zeros meaning off.
func TestTargetSpecFromKVValue(t *testing.T) {
	const addr = "10.0.0.1:8080"
	for _, tc := range []struct {
		name, value string
		want        lb.TargetSpec
	}{
		{"empty value: upsync's defaults", "",
			lb.TargetSpec{Addr: addr, Weight: 1, MaxFails: 2, FailTimeout: 10 * time.Second}},
		{"upsync's full value", `{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}`,
			lb.TargetSpec{Addr: addr, Weight: 1, MaxFails: 2, FailTimeout: 10 * time.Second}},
		{"every parameter set", `{"weight":5,"max_fails":3,"fail_timeout":30,"down":1,"backup":1}`,
			lb.TargetSpec{Addr: addr, Weight: 5, Down: true, Backup: true, MaxFails: 3, FailTimeout: 30 * time.Second}},
		{"max_fails=0 is off", `{"max_fails":0,"fail_timeout":30}`,
			lb.TargetSpec{Addr: addr, Weight: 1, MaxFails: -1}},
		{"fail_timeout=0 is off", `{"max_fails":5,"fail_timeout":"0"}`,
			lb.TargetSpec{Addr: addr, Weight: 1, MaxFails: -1}},
		{"booleans", `{"down":true,"backup":false}`,
			lb.TargetSpec{Addr: addr, Weight: 1, Down: true, MaxFails: 2, FailTimeout: 10 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := parseKVValue(addr, "k", []byte(tc.value))
			if err != nil {
				t.Fatal(err)
			}
			if got := targetSpec(tg); got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTargetSpecFromCatalogTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags []string
		want lb.TargetSpec
	}{
		{"no tags: upsync's defaults", nil,
			lb.TargetSpec{Weight: 4, MaxFails: 2, FailTimeout: 10 * time.Second}},
		{"every tag", []string{"weight=7", "max_fails=3", "fail_timeout=30s", "backup", "down=1"},
			lb.TargetSpec{Weight: 7, Backup: true, Down: true, MaxFails: 3, FailTimeout: 30 * time.Second}},
		{"flags set to 0", []string{"backup=0", "down=false", "fail_timeout=5"},
			lb.TargetSpec{Weight: 4, MaxFails: 2, FailTimeout: 5 * time.Second}},
		{"max_fails=0 is off", []string{"max_fails=0"},
			lb.TargetSpec{Weight: 4, MaxFails: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, bad := fromCatalog([]*api.ServiceEntry{{
				Node:    &api.Node{Node: "n1", Address: "10.0.0.1"},
				Service: &api.AgentService{ID: "s1", Port: 80, Weights: api.AgentWeights{Passing: 4}, Tags: tc.tags},
			}})
			if len(bad) != 0 || len(ts) != 1 {
				t.Fatalf("targets %v, bad %v", ts, bad)
			}
			tc.want.Addr = "10.0.0.1:80"
			if got := targetSpec(ts[0]); got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTargetSpecsKeepDownAndBackupAsFlags(t *testing.T) {
	p := Target{Addr: "10.0.0.1:80", Weight: 2, MaxFails: 2, FailTimeoutSeconds: 10}
	d := Target{Addr: "10.0.0.2:80", Weight: 1, MaxFails: 2, FailTimeoutSeconds: 10, Down: true}
	b := Target{Addr: "10.0.0.3:80", Weight: 1, MaxFails: 2, FailTimeoutSeconds: 10, Backup: true}
	pd := p
	pd.Down = true
	spec := func(t Target, down, backup bool) lb.TargetSpec {
		return lb.TargetSpec{Addr: t.Addr, Weight: t.Weight, Down: down, Backup: backup, MaxFails: 2, FailTimeout: 10 * time.Second}
	}
	for _, tc := range []struct {
		name     string
		balancer lb.BalancerKind
		in       []Target
		want     []lb.TargetSpec
	}{
		{"round robin: every target, flags kept", lb.RoundRobin, []Target{p, d, b},
			[]lb.TargetSpec{spec(p, false, false), spec(d, true, false), spec(b, false, true)}},
		{"hash, a primary listed: backups left out", lb.Hash, []Target{p, d, b},
			[]lb.TargetSpec{spec(p, false, false), spec(d, true, false)}},
		{"hash, every primary down: backups as primaries", lb.Hash, []Target{pd, d, b},
			[]lb.TargetSpec{spec(pd, true, false), spec(d, true, false), spec(b, false, false)}},
		{"empty", lb.RoundRobin, nil, []lb.TargetSpec{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := targetSpecs(tc.in, tc.balancer); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestTargetSpecsApplyToLB: what targetSpecs makes, lb accepts for every
// balancer (backups under hash included), and sameSpecs sees a drain or a
// max_fails change that the address-and-weight comparison would miss.
func TestTargetSpecsApplyToLB(t *testing.T) {
	ts := []Target{
		{Addr: "10.0.0.1:80", Weight: 1, MaxFails: 2, FailTimeoutSeconds: 10},
		{Addr: "10.0.0.2:80", Weight: 3, MaxFails: 0, FailTimeoutSeconds: 10},
		{Addr: "10.0.0.3:80", Weight: 1, MaxFails: 2, FailTimeoutSeconds: 10, Backup: true},
	}
	for _, kind := range []lb.BalancerKind{lb.RoundRobin, lb.LeastConn, lb.Hash, lb.PeakEWMA, lb.P2C} {
		t.Run(string(kind), func(t *testing.T) {
			u, err := lb.NewUpstream("u", lb.Config{Balancer: kind})
			if err != nil {
				t.Fatal(err)
			}
			specs := targetSpecs(ts, kind)
			if err := u.Update(specs); err != nil {
				t.Fatal(err)
			}
			if !sameSpecs(u.Snapshot(), specs) {
				t.Fatal("sameSpecs: the specs just applied differ")
			}
			changed := append([]Target(nil), ts...)
			for _, change := range []func(*Target){
				func(t *Target) { t.Down = true },
				func(t *Target) { t.MaxFails = 5 },
				func(t *Target) { t.FailTimeoutSeconds = 30 },
				func(t *Target) { t.Weight = 2 },
			} {
				changed[0] = ts[0]
				change(&changed[0])
				if sameSpecs(u.Snapshot(), targetSpecs(changed, kind)) {
					t.Errorf("sameSpecs misses a change to %+v", changed[0])
				}
			}
			st := u.Status()
			if st.Targets[1].MaxFails != 0 || st.Targets[0].MaxFails != 2 || st.Targets[0].FailTimeoutSeconds != 10 {
				t.Fatalf("lb status %+v", st.Targets)
			}
		})
	}
}
