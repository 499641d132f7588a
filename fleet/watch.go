package fleet

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/live"
)

// Watch follows the prefix and applies its changes to store until Close.
// The loop keeps Consul's rules for blocking queries (index + wait; an
// index going backwards resets to 0; never 0 after the first answer),
// takes a token of a rate limiter per query (consul.rate_limit) and backs
// off with jitter while Consul fails.
func (s *Source) Watch(store *live.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	c := s.local.Consul
	limit := discovery.NewLimiter(float64(c.RateLimit), c.RateLimit)
	go func() {
		defer close(s.done)
		s.mu.Lock()
		index := s.listIdx
		s.mu.Unlock()
		fails := 0
		for {
			if limit.Wait(ctx) != nil {
				return
			}
			qctx, qcancel := context.WithTimeout(ctx, c.Wait.Std()+c.Wait.Std()/16+10*time.Second)
			latest, next, err := s.list(qctx, index, c.Wait.Std())
			qcancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fails++
				index = 0
				s.mu.Lock()
				s.status.LastError = err.Error()
				if s.status.State != StateDump {
					s.status.State = StateFailing
				}
				s.mu.Unlock()
				if fails == 1 || fails%10 == 0 {
					s.logf("fleet: consul: %v (the running configuration stays; retrying)", err)
				}
				if discovery.Sleep(ctx, discovery.Backoff(fails, c.RetryMax.Std())) != nil {
					return
				}
				continue
			}
			fails = 0
			index = discovery.NextIndex(index, next)
			s.apply(store, latest, next)
		}
	}()
}

// apply puts a listing in force when it differs from what runs.
func (s *Source) apply(store *live.Store, latest map[string]part, listIdx uint64) {
	var used map[string]part
	res, err := store.Apply(live.Change{
		Who: "consul", What: fmt.Sprintf("fleet change (index %d)", listIdx), Origin: live.OriginFleet,
		Edit: func(running *config.Config) (*config.Config, error) {
			next, merged, err := s.edit(running, latest, listIdx)
			used = merged
			return next, err
		},
	})
	if err != nil {
		s.logf("fleet: the configuration under %s/ at index %d is refused; the running one stays:\n%v", s.prefix, listIdx, err)
	}
	changed := err == nil && used != nil && res.New != res.Old
	s.mu.Lock()
	s.status.Index, s.status.LastOK = listIdx, time.Now()
	switch {
	case err != nil:
		s.status.State, s.status.LastError = StateRefused, err.Error()
		s.status.Refused++
	case changed:
		s.known, s.listIdx = used, listIdx
		s.status.Keys = len(used)
		s.status.Applied++
		fallthrough
	default: // nothing changed: the listing is what runs (often this node's own write)
		s.status.State, s.status.LastError = StateOK, ""
	}
	s.mu.Unlock()
	if changed {
		s.writeDump()
	}
}

// edit computes the configuration a listing describes, from running (built
// from s.known). Keys this node knows at an index above the listing's were
// written since (by this node): the listing is older for them, and they
// keep what this node knows. It returns the keys the result is built from
// (nil when nothing changed).
func (s *Source) edit(running *config.Config, latest map[string]part, listIdx uint64) (*config.Config, map[string]part, error) {
	s.mu.Lock()
	merged := make(map[string]part, len(latest))
	for k, p := range latest {
		merged[k] = p
	}
	var changed, removed []string
	for k, kp := range s.known {
		lp, ok := latest[k]
		switch {
		case kp.index > listIdx:
			merged[k] = kp // newer than the listing
		case !ok:
			removed = append(removed, k)
		case lp.index != kp.index:
			changed = append(changed, k)
		}
	}
	for k := range latest {
		if _, ok := s.known[k]; !ok {
			changed = append(changed, k)
		}
	}
	s.mu.Unlock()
	if len(changed) == 0 && len(removed) == 0 {
		return running, nil, nil
	}
	sort.Strings(changed)
	sort.Strings(removed)
	if next, ok, err := s.incremental(running, merged, changed, removed); ok {
		return next, merged, err
	}
	next, err := config.AssembleFleet(s.local, partsOf(merged))
	return next, merged, err
}

// incremental applies changes to routes and upstreams only, as edits (each
// compiled alone); ok is false when the change is of another kind or too
// large, for a whole assembly instead.
func (s *Source) incremental(running *config.Config, latest map[string]part, changed, removed []string) (*config.Config, bool, error) {
	if len(changed)+len(removed) > maxIncremental {
		return nil, false, nil
	}
	kindOf := func(key string) (string, string) {
		rest := strings.TrimPrefix(key, s.prefix+"/")
		kind, name, _ := strings.Cut(rest, "/")
		return kind, name
	}
	for _, k := range append(append([]string(nil), changed...), removed...) {
		if kind, name := kindOf(k); kind != "routes" && kind != "upstreams" || name == "" || strings.Contains(name, "/") {
			return nil, false, nil
		}
	}
	next := running
	var err error
	// Upstreams first, so routes may name new ones; routes deleted before
	// the upstreams they used.
	for _, pass := range []struct {
		kind  string
		keys  []string
		apply func(c *config.Config, name, key string) (*config.Config, error)
	}{
		{"upstreams", changed, func(c *config.Config, name, key string) (*config.Config, error) {
			n, _, err := c.PutUpstream(name, latest[key].value, "consul:"+key)
			return n, err
		}},
		{"routes", changed, func(c *config.Config, name, key string) (*config.Config, error) {
			n, _, err := c.PutRoute(name, latest[key].value, "consul:"+key)
			return n, err
		}},
		{"routes", removed, func(c *config.Config, name, _ string) (*config.Config, error) {
			n, _, err := c.DeleteRoute(name)
			return n, err
		}},
		{"upstreams", removed, func(c *config.Config, name, _ string) (*config.Config, error) {
			n, _, err := c.DeleteUpstream(name)
			return n, err
		}},
	} {
		for _, k := range pass.keys {
			kind, name := kindOf(k)
			if kind != pass.kind {
				continue
			}
			if next, err = pass.apply(next, name, k); err != nil {
				return nil, true, err
			}
		}
	}
	return next, true, nil
}
