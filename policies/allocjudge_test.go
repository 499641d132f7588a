//go:build !race

package policies_test

import "testing"

// The gateway-level allocation tests count the process's mallocs over
// 20,000 requests of a steady client, so anything else the process runs
// meanwhile adds to the count. Two rules keep that from failing them on a
// slow or loaded machine (it did in CI, 2026-12-01):
//
//   - each measurement runs in a subtest of its own, so its gateway,
//     upstream and Redis client are stopped before the next one starts. A
//     gateway left running (its timers, its Redis client's pings)
//     allocates in proportion to wall time, so a later, slower
//     measurement was charged 0.01-0.02 allocations per request for it;
//   - a case over budget is measured again beside a new baseline, twice at
//     most, and judged by the least of each: what else runs only ever
//     adds to a count, so the least is the nearest to the request's own.

// allocSlack is how many allocations per request a case may make beyond
// its baseline: one in a hundred requests.
const allocSlack = 0.01

// allocMeasure measures allocations per request; the gateway it starts
// stops when t ends.
type allocMeasure func(t *testing.T) float64

// steadyAllocs measures a steady client sending req to the gateway start
// returns, after 2,000 requests that warm every buffer.
func steadyAllocs(start func(testing.TB) *gateway, req string) allocMeasure {
	return func(t *testing.T) float64 {
		g := start(t)
		sc := newSteadyClient(t, g.addr, req)
		sc.run(t, 2000)
		return sc.mallocsPerRequest(t, 20000)
	}
}

// isolatedAllocs runs m in a subtest named name, so that everything m
// started has stopped when it returns.
func isolatedAllocs(t *testing.T, name string, m allocMeasure) float64 {
	var perReq float64
	t.Run(name, func(t *testing.T) { perReq = m(t) })
	return perReq
}

// requireAllocsWithin fails t unless measureCase allocates per request at
// most allocSlack more than the baseline (baseline, measured again by
// measureBase when the case is over) and, when limit > 0, at most limit.
// With measureBase nil only limit judges.
func requireAllocsWithin(t *testing.T, baseline float64, measureBase, measureCase allocMeasure, limit float64) {
	t.Helper()
	over := func(perReq, base float64) bool {
		return (limit > 0 && perReq > limit) || (measureBase != nil && perReq > base+allocSlack)
	}
	perReq := isolatedAllocs(t, "measure", measureCase)
	for try := 0; try < 2 && over(perReq, baseline); try++ {
		t.Logf("allocations per request: %.4f (baseline %.4f); measuring again", perReq, baseline)
		if measureBase != nil {
			baseline = min(baseline, isolatedAllocs(t, "baseline", measureBase))
		}
		perReq = min(perReq, isolatedAllocs(t, "measure", measureCase))
	}
	t.Logf("allocations per request: %.4f (baseline %.4f)", perReq, baseline)
	if over(perReq, baseline) {
		t.Fatalf("%.4f allocations per request; baseline %.4f + %.2f, limit %.2f (0: none)", perReq, baseline, allocSlack, limit)
	}
}

// allocCase is one case of casesAllocateNothing.
type allocCase struct {
	name    string
	measure allocMeasure
}

// casesAllocateNothing measures base once, then each case in a subtest of
// its name, judged against it by requireAllocsWithin.
func casesAllocateNothing(t *testing.T, base allocMeasure, cases []allocCase, limit float64) {
	baseline := isolatedAllocs(t, "baseline", base)
	t.Logf("baseline: %.4f allocations per request", baseline)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { requireAllocsWithin(t, baseline, base, c.measure, limit) })
	}
}
