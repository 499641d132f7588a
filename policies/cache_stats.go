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
	ccFleetWaits
	ccFleetTimeouts
	numCacheCounters
)

var cacheCounterNames = [numCacheCounters]string{
	"hits_l1", "hits_l2", "misses", "coalesced_waits", "bypasses", "stale_served",
	"stores", "store_errors", "too_large", "l2_errors", "l2_write_errors",
	"fleet_waits", "fleet_lock_timeouts",
}

// The cache's Prometheus families. Every lookup ends in one of hit_l1,
// hit_l2, stale, miss or bypass; coalesced, l2_error, fleet_wait and
// fleet_timeout count events on the way (a wait for another request's
// fill, a failed L2 read served as a miss, a wait for another gateway's
// fill, such a wait given up after lock_timeout), so they are counted
// besides the outcome.
var (
	cacheLookups = engine.CounterOpts{
		Name:   "sluice_cache_lookups_total",
		Help:   "Requests the cache policy looked up, by outcome: hit_l1, hit_l2 (fresh entry served from the shared dict or Redis), stale (stale entry served while another request refreshes it), miss, bypass (the bypass rule matched); and, besides their outcome, coalesced (waited for another request's fill), l2_error (the Redis read failed or timed out: a miss), fleet_wait (lock_scope: fleet: waited for another gateway's fill) and fleet_timeout (gave that wait up after lock_timeout: upstream).",
		Label:  "result",
		Values: []string{"hit_l1", "hit_l2", "stale", "miss", "bypass", "coalesced", "l2_error", "fleet_wait", "fleet_timeout"},
	}
	cacheStores = engine.CounterOpts{
		Name:   "sluice_cache_stores_total",
		Help:   "Responses the cache policy tried to store, by outcome: stored (in the shared dict), error (the dict refused it), too_large (the body passed max_body), l2_error (the Redis write failed; the dict has it).",
		Label:  "result",
		Values: []string{"stored", "error", "too_large", "l2_error"},
	}
)

const (
	cacheFamLookups = 0
	cacheFamStores  = 1
)

// cacheMetricOf places each counter in a family (cacheFamLookups,
// cacheFamStores) at a value.
var cacheMetricOf = [numCacheCounters]struct{ fam, value int }{
	ccHitsL1:        {cacheFamLookups, 0},
	ccHitsL2:        {cacheFamLookups, 1},
	ccStale:         {cacheFamLookups, 2},
	ccMisses:        {cacheFamLookups, 3},
	ccBypass:        {cacheFamLookups, 4},
	ccCoalesced:     {cacheFamLookups, 5},
	ccL2Errors:      {cacheFamLookups, 6},
	ccStores:        {cacheFamStores, 0},
	ccStoreErrors:   {cacheFamStores, 1},
	ccTooLarge:      {cacheFamStores, 2},
	ccL2WriteErrors: {cacheFamStores, 3},
	ccFleetWaits:    {cacheFamLookups, 7},
	ccFleetTimeouts: {cacheFamLookups, 8},
}

// cacheMetricsOf declares the policy's series of the cache's families.
func cacheMetricsOf(env *engine.Env) (m [2]*engine.PolicyCounter, err error) {
	if m[cacheFamLookups], err = env.Counter(cacheLookups); err != nil {
		return m, err
	}
	m[cacheFamStores], err = env.Counter(cacheStores)
	return m, err
}

// count adds one to counter c: the policy's Prometheus series and the
// identity's counters CacheStats reads.
func (p *cachePolicy) count(x *engine.Ctx, c cacheCounter) {
	p.stats.add(x, c)
	m := cacheMetricOf[c]
	p.metrics[m.fam].Inc(x, m.value)
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
// served as misses), l2_write_errors, fleet_waits (lock_scope: fleet:
// misses that waited for another gateway's fill) and fleet_lock_timeouts
// (such waits that gave up after lock_timeout); and dict_evictions, the
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
