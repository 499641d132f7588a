package policies

import (
	"testing"
	"time"

	"github.com/sluice-gw/sluice/shm"
)

// leaseHotPaths are the redis-lease decisions that never reach Redis — a
// request spent from the lease in hand, with and without the headers'
// Remaining, one limit and two — beside the local policy's fixed window,
// the simplest correct limit: the allocation test and the benchmark run
// them.
func leaseHotPaths(t testing.TB) []struct {
	name string
	f    func()
} {
	_, rc := testRedis(t)
	env := limitEnv(t, rc)
	now := time.Now().UnixNano()
	build := func(config string) (*limitCount, []byte) {
		p := buildLimit[*limitCount](t, `{ name: limit-count, config: { policy: redis-lease, `+config+` } }`, env)
		t.Cleanup(p.Cleanup)
		key := append(append(make([]byte, 0, 128), p.prefix...), "i203.0.113.7"...)
		for i := range p.limits {
			// A lease that never runs low: the path never leaves the dict.
			num, _, _ := p.limits[i].bounds(now)
			k := appendWindowSuffix(key, i, num)
			if _, err := p.dict.Incr(k, 1<<50, 0, time.Hour); err != nil {
				t.Fatal(err)
			}
			_ = p.dict.Set(append(k, '|', 'r'), shm.IntValue(1<<50), time.Hour)
		}
		return p, key
	}
	one, ok := build(`count: 4000000000000000, window: 1h, group: one`)
	quiet, qk := build(`count: 4000000000000000, window: 1h, headers: false, group: quiet`)
	two, tk := build(`limits: [ { count: 4000000000000000, window: 1s }, { count: 4000000000000000, window: 24h } ], window_type: sliding, group: two`)
	local := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1000000000, window: 1h, group: local } }`, env)
	lk := append(append(make([]byte, 0, 128), local.prefix...), "i203.0.113.7"...)
	spend := func(p *limitCount, key []byte) []byte {
		d, need, _, key := p.spendLease(key, len(p.prefix)+12, now)
		if need || !d.allowed {
			t.Fatalf("the lease ran out: %+v need %v", d, need)
		}
		return key
	}
	return []struct {
		name string
		f    func()
	}{
		{"local/fixed (baseline)", func() { _, lk = local.decideLocal(lk, len(local.prefix)+12, now) }},
		{"redis-lease/hit", func() { ok = spend(one, ok) }},
		{"redis-lease/hit,headers:false", func() { qk = spend(quiet, qk) }},
		{"redis-lease/hit,sliding+2-limits", func() { tk = spend(two, tk) }},
	}
}
