package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/discovery/consultest"
	"github.com/sluice-gw/sluice/internal/freeport"
)

// TestDiscoveryPropagation3Nodes is issue 13's measurement (set
// SLUICE_PROPAGATION=1): three gateway processes and one Consul on this
// machine; 100 changes of an upstream's KV targets (nginx-upsync layout),
// each moving the upstream to another backend; for each change, the time
// from the KV write's return to every node answering from the new backend.
func TestDiscoveryPropagation3Nodes(t *testing.T) {
	if os.Getenv("SLUICE_PROPAGATION") == "" {
		t.Skip("a measurement: SLUICE_PROPAGATION=1 runs it")
	}
	agent := consultest.Start(t)
	const backends = 4
	var ups [backends]*upstream
	for i := range ups {
		ups[i] = startUpstream(t, fmt.Sprintf("b%d", i), 0)
	}
	client0, err := api.NewClient(&api.Config{Address: agent.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	current := -1
	set := func(i int) {
		// One transaction: the old backend's key out, the new one's in
		// (one index change, as one upsync edit).
		ops := api.TxnOps{{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "upstreams/test/" + ups[i].addr, Value: []byte(`{"weight":1}`)}}}
		if current >= 0 {
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: "upstreams/test/" + ups[current].addr}})
		}
		if ok, _, _, err := client0.Txn().Txn(ops, nil); err != nil || !ok {
			t.Fatalf("txn: %v %v", ok, err)
		}
		current = i
	}
	set(0)
	var nodes []*gatewayProcess
	for n := 0; n < 3; n++ {
		file := filepath.Join(t.TempDir(), "node.yaml")
		listen := freeport.Addr(t)
		os.WriteFile(file, []byte(fmt.Sprintf(`listen: %s
workers: 2
consul: {address: %s}
upstreams:
  - name: test
    discovery: {type: consul_kv, key: upstreams/test}
routes:
  - match: {paths: ["/*"]}
    upstream: test
`, listen, agent.Addr())), 0o600)
		p := startProcess(t, "-c", file)
		p.addr = listen
		p.waitReady(t)
		nodes = append(nodes, p)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	seen := func(p *gatewayProcess, want string) bool {
		// Two requests: the workers each serve one connection at a time,
		// keep-alive spreads them.
		for k := 0; k < 2; k++ {
			got, err := get(client, "http://"+p.addr+"/")
			if err != nil || got != want {
				return false
			}
		}
		return true
	}
	var lags []time.Duration
	for c := 1; c <= 100; c++ {
		i := c % backends
		want := fmt.Sprintf("b%d", i)
		set(i)
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		worst := time.Duration(0)
		for _, p := range nodes {
			wg.Add(1)
			go func(p *gatewayProcess) {
				defer wg.Done()
				for !seen(p, want) {
					if time.Since(start) > 10*time.Second {
						t.Errorf("change %d never reached %s", c, p.addr)
						return
					}
					time.Sleep(time.Millisecond)
				}
				mu.Lock()
				worst = max(worst, time.Since(start))
				mu.Unlock()
			}(p)
		}
		wg.Wait()
		lags = append(lags, worst)
		time.Sleep(150 * time.Millisecond) // a change every ~0.2 s, under the default rate limit
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var b strings.Builder
	fmt.Fprintf(&b, "100 changes, 3 nodes: from the KV write to every node answering from the new target: p50 %v, p90 %v, p99 %v, max %v",
		lags[50], lags[90], lags[98], lags[99])
	t.Log(b.String())
}
