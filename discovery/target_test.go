package discovery

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/lb"
)

func TestParseKVValue(t *testing.T) {
	def := defaultTarget("10.0.0.1:8080", "k")
	with := func(f func(*Target)) Target { x := def; f(&x); return x }
	for _, tc := range []struct {
		name, value string
		want        Target
	}{
		{"empty value is upsync's defaults", "", def},
		{"blank value is upsync's defaults", " \n", def},
		{"empty object is the defaults", "{}", def},
		{"upsync's full value", `{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}`, def},
		{"numbers", `{"weight":5,"max_fails":3,"fail_timeout":30,"down":1,"backup":1}`,
			with(func(t *Target) { t.Weight, t.MaxFails, t.FailTimeoutSeconds, t.Down, t.Backup = 5, 3, 30, true, true })},
		{"numeric strings", `{"weight":"7","max_fails":"0","fail_timeout":"5","down":"1","backup":"0"}`,
			with(func(t *Target) { t.Weight, t.MaxFails, t.FailTimeoutSeconds, t.Down = 7, 0, 5, true })},
		{"booleans for down and backup", `{"down":false,"backup":true}`, with(func(t *Target) { t.Backup = true })},
		{"unknown fields ignored", `{"weight":2,"slow_start":0}`, with(func(t *Target) { t.Weight = 2 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKVValue("10.0.0.1:8080", "k", []byte(tc.value))
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseKVValueRefusesBadValues(t *testing.T) {
	for _, v := range []string{
		`not json`, `[1]`, `{"weight":"x"}`, `{"weight":0}`, `{"weight":-1}`, `{"weight":1.5}`,
		`{"down":2}`, `{"max_fails":-1}`, `{"weight":2000000}`, `{"fail_timeout":"10s"}`,
		`{"weight":true}`, `{"max_fails":false}`, `{"fail_timeout":true}`, `null`,
	} {
		if _, err := parseKVValue("10.0.0.1:8080", "k", []byte(v)); !errors.Is(err, ErrBadValue) {
			t.Errorf("%s: err = %v, want ErrBadValue", v, err)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for _, ok := range []string{"10.0.0.1:8080", "[fd00::1]:8080", "[::1]:1", "backend-1.example.com:443", "host_a:65535"} {
		if err := checkAddr(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", ":80", "fd00::1:80", "[fd00::zz]:80", "a b:80", "-x:80", "[fe80::1%eth0]:80"} {
		if err := checkAddr(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestFromKVSkipsBadKeysAndFolders(t *testing.T) {
	pairs := api.KVPairs{
		{Key: "upstreams/test/"}, // the folder itself
		{Key: "upstreams/test/10.0.0.2:80", Value: []byte(`{"weight":3}`)},
		{Key: "upstreams/test/10.0.0.1:80"},
		{Key: "upstreams/test/[fd00::1]:80", Value: []byte(`{"backup":1}`)},
		{Key: "upstreams/test/bad-value:80", Value: []byte(`{"weight":"heavy"}`)},
		{Key: "upstreams/test/no-port", Value: nil},
		{Key: "upstreams/test/nested/10.0.0.9:80"},
		{Key: "upstreams/testing/10.0.0.8:80"}, // another prefix
	}
	ts, bad := fromKV("upstreams/test", pairs)
	var addrs []string
	for _, tg := range ts {
		addrs = append(addrs, tg.Addr)
	}
	if want := []string{"10.0.0.1:80", "10.0.0.2:80", "[fd00::1]:80"}; !reflect.DeepEqual(addrs, want) {
		t.Fatalf("targets %v, want %v", addrs, want)
	}
	if len(bad) != 2 {
		t.Fatalf("bad = %v, want 2 entries", bad)
	}
	if ts[1].Weight != 3 || !ts[2].Backup || ts[0].From != "upstreams/test/10.0.0.1:80" {
		t.Fatalf("targets %+v", ts)
	}
}

func TestFromCatalog(t *testing.T) {
	entry := func(node, nodeAddr, id, addr string, port, passing int, tags ...string) *api.ServiceEntry {
		return &api.ServiceEntry{
			Node:    &api.Node{Node: node, Address: nodeAddr},
			Service: &api.AgentService{ID: id, Address: addr, Port: port, Weights: api.AgentWeights{Passing: passing}, Tags: tags},
		}
	}
	ts, bad := fromCatalog([]*api.ServiceEntry{
		entry("n1", "10.0.0.1", "users-1", "", 8080, 1),                              // node address
		entry("n2", "10.0.0.2", "users-2", "10.1.0.2", 8080, 4),                      // service address, Weights
		entry("n3", "10.0.0.3", "users-3", "fd00::3", 8080, 1, "weight=9", "backup"), // tag weight wins
		entry("n4", "10.0.0.4", "users-4", "", 8080, 1, "down", "max_fails=5", "v2"), // down
		entry("n5", "10.0.0.5", "users-5", "", 8080, 1, "weight=x"),                  // bad tag
		entry("n6", "10.0.0.1", "users-6", "", 8080, 1),                              // same address as n1
	})
	if len(bad) != 1 {
		t.Fatalf("bad = %v", bad)
	}
	want := []Target{
		{Addr: "10.0.0.1:8080", Weight: 1, MaxFails: 2, FailTimeoutSeconds: 10, From: "n1/users-1"},
		{Addr: "10.0.0.4:8080", Weight: 1, MaxFails: 5, FailTimeoutSeconds: 10, Down: true, From: "n4/users-4"},
		{Addr: "10.1.0.2:8080", Weight: 4, MaxFails: 2, FailTimeoutSeconds: 10, From: "n2/users-2"},
		{Addr: "[fd00::3]:8080", Weight: 9, MaxFails: 2, FailTimeoutSeconds: 10, Backup: true, From: "n3/users-3"},
	}
	if !reflect.DeepEqual(ts, want) {
		t.Fatalf("got  %+v\nwant %+v", ts, want)
	}
}

// An answer is usable (last known good, applied without allow_empty) when
// lb can pick one of its targets: not when every target is down.
func TestUsableAnswers(t *testing.T) {
	p := Target{Addr: "10.0.0.1:80", Weight: 2}
	d := Target{Addr: "10.0.0.2:80", Weight: 1, Down: true}
	b := Target{Addr: "10.0.0.3:80", Weight: 1, Backup: true}
	pd := p
	pd.Down = true
	for _, tc := range []struct {
		name string
		in   []Target
		want bool
	}{
		{"primary, down and backup", []Target{p, d, b}, true},
		{"every primary down, a backup", []Target{pd, d, b}, true},
		{"all down", []Target{pd, d}, false},
		{"nothing", nil, false},
	} {
		if got := usable(targetSpecs(tc.in, lb.RoundRobin)); got != tc.want {
			t.Errorf("%s: usable %v, want %v", tc.name, got, tc.want)
		}
	}
}
