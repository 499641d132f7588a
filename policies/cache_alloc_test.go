//go:build !race

package policies_test

import (
	"testing"
)

// TestCacheHitAllocatesNothing pins the allocations of an L1 hit: none
// beyond the engine's own budget (0.1 per request, process-wide), and
// fewer than a proxied request without policies; and of a miss (the
// lookup, the coalescing table, the X-Cache-Status field): within the
// same budget.
func TestCacheHitAllocatesNothing(t *testing.T) {
	measure := func(t *testing.T, head, policies string) float64 {
		g := cacheBenchGateway(t, head, policies)
		sc := warmedClient(t, g, plainReq)
		sc.run(t, 2000)
		return sc.mallocsPerRequest(t, 20000)
	}
	baseline := measure(t, "", "")
	hit := measure(t, "", "      - { name: cache }\n")
	// A key of many values: a template, the vary fields (their lengths
	// are in the key: cache_key.go).
	hitVary := measure(t, "", "      - { name: cache, config: { key: \"{arg_id}:{http_user_agent}\", vary: [Accept, User-Agent, X-Absent] } }\n")
	miss := measure(t, "Cache-Control: no-store\r\n", "      - { name: cache }\n")
	t.Logf("allocations per request: proxied without policies %.4f, cache hit %.4f, cache hit with a template key and vary %.4f, cache miss (no-store) %.4f", baseline, hit, hitVary, miss)
	if hit > 0.1 || hitVary > 0.1 {
		t.Fatalf("a cache hit allocates %.4f per request (%.4f with a template key and vary); budget 0.1", hit, hitVary)
	}
	if miss > 0.1 {
		t.Fatalf("a cache miss allocates %.4f per request (baseline %.4f); budget 0.1", miss, baseline)
	}
}
