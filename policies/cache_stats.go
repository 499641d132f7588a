package policies

import (
	"sync"
	"sync/atomic"

	"github.com/sluice-gw/sluice/engine"
)

// Counters of the cache policies, per worker (each worker adds to its own
// cache line; a reader sums them), kept by policy identity so that they
// survive reloads.

type cacheCounter uint8

const (
	ccHitsL1 cacheCounter = iota
	ccHitsL2
	ccMisses
	ccCoalesced
	ccBypass
	ccStale
	ccStores
	ccStoreErrors
	ccTooLarge
	ccL2Errors
	ccL2WriteErrors
	numCacheCounters
)

var cacheCounterNames = [numCacheCounters]string{
	"hits_l1", "hits_l2", "misses", "coalesced_waits", "bypasses", "stale_served",
	"stores", "store_errors", "too_large", "l2_errors", "l2_write_errors",
}

type cacheStats struct {
	workers perWorker[[numCacheCounters]atomic.Int64]
}

func (s *cacheStats) add(x *engine.Ctx, c cacheCounter) { s.addWorker(x.WorkerID(), c) }

func (s *cacheStats) addWorker(worker int, c cacheCounter) { s.workers.get(worker)[c].Add(1) }

func (s *cacheStats) sum() map[string]int64 {
	out := make(map[string]int64, numCacheCounters)
	s.workers.mu.Lock()
	defer s.workers.mu.Unlock()
	if slots := s.workers.slots.Load(); slots != nil {
		for _, w := range *slots {
			for i := range w.v {
				out[cacheCounterNames[i]] += w.v[i].Load()
			}
		}
	}
	for _, n := range cacheCounterNames {
		out[n] += 0
	}
	return out
}

var cacheStatsByIdentity sync.Map // identity → *cacheStats

func cacheStatsFor(identity string) *cacheStats {
	s, _ := cacheStatsByIdentity.LoadOrStore(identity, new(cacheStats))
	return s.(*cacheStats)
}

// CacheStats returns the counters of the cache policy with that identity
// ("route:NAME/cache", Env.Identity), summed over workers: hits_l1,
// hits_l2, misses, coalesced_waits, bypasses, stale_served, stores,
// store_errors, too_large, l2_errors (lookups that failed or timed out:
// served as misses) and l2_write_errors; and dict_evictions, the
// evictions of its L1 dict (dict-wide: shared with whatever else uses the
// dict). Nil for an unknown identity.
func CacheStats(identity string) map[string]int64 {
	s, ok := cacheStatsByIdentity.Load(identity)
	if !ok {
		return nil
	}
	out := s.(*cacheStats).sum()
	if p, ok := cachePolicies.Load(identity); ok {
		out["dict_evictions"] = int64(p.(*cachePolicy).dict.Stats().Evictions)
	}
	return out
}
