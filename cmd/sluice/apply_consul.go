package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
)

// applyToConsul is "sluice apply --consul": the file, validated and
// compiled here exactly as a gateway would, is written into a fleet's KV
// prefix, one key per resource (config.FleetParts); keys of resources the
// file no longer has are deleted, keys whose value is unchanged are left
// alone (the nodes see only what changed). Up to 64 keys go in one Consul
// transaction: a larger change reaches the nodes in several steps, each of
// which they validate (a step they refuse is followed by the next).
func applyToConsul(file, addr, prefix string, dry bool, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "sluice apply: "+format+"\n", args...)
		return 1
	}
	if file == "" {
		return fail("-f FILE is required")
	}
	if prefix == "" {
		return fail("-prefix must not be empty")
	}
	cfg, err := config.Load(file)
	if err == nil && cfg.Fleet() {
		err = fmt.Errorf("%s is a fleet node's own file (config_source: consul); apply a whole configuration", file)
	}
	if err == nil {
		c := engine.NewCompiler(policies.Build)
		_, err = c.Compile(cfg)
		c.Close()
	}
	if err != nil {
		return fail("%s: invalid:\n%v", file, err)
	}
	parts, err := config.FleetParts(cfg, prefix)
	if err != nil {
		return fail("%v", err)
	}
	client, err := discovery.NewClient(&config.Consul{Address: addr, Token: os.Getenv("CONSUL_HTTP_TOKEN")})
	if err != nil {
		return fail("consul: %v", err)
	}
	pairs, _, err := client.KV().List(prefix+"/", nil)
	if err != nil {
		return fail("consul %s: %v", addr, err)
	}
	have := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		have[p.Key] = p.Value
	}
	var sets, dels api.TxnOps
	want := make(map[string]bool, len(parts))
	for _, p := range parts {
		want[p.Key] = true
		if v, ok := have[p.Key]; ok && bytes.Equal(v, p.Value) {
			continue
		}
		sets = append(sets, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: p.Key, Value: p.Value}})
	}
	var gone []string
	for k := range have {
		if !want[k] {
			gone = append(gone, k)
		}
	}
	// Routes go before upstreams: a route is deleted before the upstream
	// it used.
	sort.Slice(gone, func(i, j int) bool {
		return strings.Contains(gone[i], "/routes/") && !strings.Contains(gone[j], "/routes/")
	})
	for _, k := range gone {
		dels = append(dels, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: k}})
	}
	if dry {
		fmt.Fprintf(stdout, "%s: valid; would write %d keys and delete %d under %s/\n", file, len(sets), len(dels), prefix)
		return 0
	}
	ops := append(sets, dels...)
	for start := 0; start < len(ops); start += 64 {
		ok, resp, _, err := client.Txn().Txn(ops[start:min(start+64, len(ops))], nil)
		if err != nil {
			return fail("consul %s: %v (%d of %d keys written)", addr, err, start, len(ops))
		}
		if !ok {
			var why []string
			for _, e := range resp.Errors {
				why = append(why, e.What)
			}
			return fail("consul refused the transaction: %s (%d of %d keys written)", strings.Join(why, "; "), start, len(ops))
		}
	}
	fmt.Fprintf(stdout, "%s: wrote %d keys and deleted %d under %s/ (%d unchanged)\n", file, len(sets), len(dels), prefix, len(parts)-len(sets))
	return 0
}
