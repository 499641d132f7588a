//go:build !race

package policies_test

import (
	"testing"
)

// TestCacheHitAllocatesNothing pins the allocations of an L1 hit: none
// beyond the engine's own budget (0.1 per request, process-wide), and
// no more than a proxied request without policies; and of a miss (the
// lookup, the coalescing table, the X-Cache-Status field): within the
// same budget.
func TestCacheHitAllocatesNothing(t *testing.T) {
	measure := func(head, policies string) allocMeasure {
		return func(t *testing.T) float64 {
			g := cacheBenchGateway(t, head, policies)
			sc := warmedClient(t, g, plainReq)
			sc.run(t, 2000)
			return sc.mallocsPerRequest(t, 20000)
		}
	}
	proxied := measure("", "")
	baseline := isolatedAllocs(t, "baseline", proxied)
	t.Logf("baseline (proxied without policies): %.4f allocations per request", baseline)
	t.Run("hit", func(t *testing.T) {
		requireAllocsWithin(t, baseline, proxied, measure("", "      - { name: cache }\n"), 0.1)
	})
	// A key of many values: a template, the vary fields (their lengths
	// are in the key: cache_key.go).
	t.Run("hit-template-key-vary", func(t *testing.T) {
		requireAllocsWithin(t, baseline, proxied, measure("", "      - { name: cache, config: { key: \"{arg_id}:{http_user_agent}\", vary: [Accept, User-Agent, X-Absent] } }\n"), 0.1)
	})
	t.Run("miss-no-store", func(t *testing.T) {
		requireAllocsWithin(t, baseline, nil, measure("Cache-Control: no-store\r\n", "      - { name: cache }\n"), 0.1)
	})
}
