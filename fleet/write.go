package fleet

import (
	"fmt"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/live"
)

// WriteThrough stores a change made on this node (live.Options.
// WriteThrough): the keys whose resource changed between running and next
// are set or deleted in Consul, each checked-and-set against the index this
// node last saw of it (0: the key must not exist). Another node's write in
// between fails the transaction: the change is refused with live.ErrStale.
// Up to 64 keys go in one transaction, so a change of one resource is
// atomic; a larger one (a whole new configuration) is several.
func (s *Source) WriteThrough(running, next *config.Config) error {
	s.mu.Lock()
	known := s.known
	s.mu.Unlock()
	ops, err := s.opsFor(running, next, known)
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	written := map[string]uint64{}
	var deleted []string
	for start := 0; start < len(ops); start += maxTxnOps {
		chunk := ops[start:min(start+maxTxnOps, len(ops))]
		ok, resp, _, err := s.client.Txn().Txn(chunk, nil)
		if err != nil {
			return fmt.Errorf("fleet: writing to Consul: %w (nothing changed)", err)
		}
		if !ok {
			s.mu.Lock()
			s.status.Conflicts++
			s.mu.Unlock()
			var why []string
			for _, e := range resp.Errors {
				why = append(why, e.What)
			}
			return fmt.Errorf("%w: another node changed the fleet's configuration first (%s)", live.ErrStale, strings.Join(why, "; "))
		}
		for _, r := range resp.Results {
			if r.KV != nil {
				written[r.KV.Key] = r.KV.ModifyIndex
			}
		}
		for _, op := range chunk {
			if op.KV.Verb == api.KVDeleteCAS {
				deleted = append(deleted, op.KV.Key)
			}
		}
	}
	s.mu.Lock()
	nk := make(map[string]part, len(s.known)+len(written))
	for k, p := range s.known {
		nk[k] = p
	}
	for _, op := range ops {
		if idx, ok := written[op.KV.Key]; ok {
			nk[op.KV.Key] = part{index: idx, value: op.KV.Value}
		}
	}
	for _, k := range deleted {
		delete(nk, k)
	}
	s.known = nk
	s.status.Written++
	s.mu.Unlock()
	s.writeDump()
	return nil
}

// opsFor lists the key operations that take running to next.
func (s *Source) opsFor(running, next *config.Config, known map[string]part) (api.TxnOps, error) {
	var ops api.TxnOps
	put := func(kind, name string, v any) error {
		key := config.FleetKey(s.prefix, kind, name)
		val, err := config.EncodeYAML(v)
		if err != nil {
			return err
		}
		p, ok := known[key]
		if sameValue(p, ok, val) {
			return nil
		}
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCAS, Key: key, Value: val, Index: p.index}})
		return nil
	}
	del := func(kind, name string) {
		key := config.FleetKey(s.prefix, kind, name)
		if p, ok := known[key]; ok {
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDeleteCAS, Key: key, Index: p.index}})
		}
	}
	// Routes and upstreams by revision: an untouched one is not encoded.
	routeRev := make(map[string]config.Rev, running.Routes.Len())
	for i, r := range running.Routes.All() {
		routeRev[r.Name] = running.RouteRev(i)
	}
	for i := range next.Upstreams {
		u := &next.Upstreams[i]
		if j := running.UpstreamIndex(u.Name); j >= 0 && running.UpstreamRev(j) == next.UpstreamRev(i) && next.UpstreamRev(i) != 0 {
			continue
		}
		if err := put("upstreams", u.Name, u); err != nil {
			return nil, err
		}
	}
	for i, r := range next.Routes.All() {
		if rev, ok := routeRev[r.Name]; ok && rev == next.RouteRev(i) && rev != 0 {
			continue
		}
		if err := put("routes", r.Name, r); err != nil {
			return nil, err
		}
	}
	inNext := make(map[string]bool, next.Routes.Len())
	for _, r := range next.Routes.All() {
		inNext[r.Name] = true
	}
	for _, r := range running.Routes.All() {
		if !inNext[r.Name] {
			del("routes", r.Name)
		}
	}
	for i := range running.Upstreams {
		if next.UpstreamIndex(running.Upstreams[i].Name) < 0 {
			del("upstreams", running.Upstreams[i].Name)
		}
	}
	if running.SharedRev() != next.SharedRev() || next.SharedRev() == 0 {
		shared, err := config.FleetParts(&config.Config{Client: next.Client, SharedDicts: next.SharedDicts,
			Redis: next.Redis, GlobalPolicies: next.GlobalPolicies}, s.prefix)
		if err != nil {
			return nil, err
		}
		if p, ok := known[shared[0].Key]; !sameValue(p, ok, shared[0].Value) {
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCAS, Key: shared[0].Key, Value: shared[0].Value, Index: p.index}})
		}
		for i := range next.Consumers {
			if err := put("consumers", next.Consumers[i].Name, &next.Consumers[i]); err != nil {
				return nil, err
			}
		}
		for i := range running.Consumers {
			if next.ConsumerIndex(running.Consumers[i].Name) < 0 {
				del("consumers", running.Consumers[i].Name)
			}
		}
	}
	return ops, nil
}
