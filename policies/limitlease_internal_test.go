package policies

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
)

// redis-lease decisions driven directly (no engine): a request spends from
// the lease and, when the lease is empty, fetches one synchronously, as
// the suspended request would. Two policies of one identity with two
// dicts are two gateways sharing one redis-server.

// leaseAt decides one request of key at now on the gateway of p.
func leaseAt(t *testing.T, p *limitCount, key string, now int64) countDecision {
	t.Helper()
	buf := append(append([]byte(nil), p.prefix...), key...)
	for round := 0; round < 4; round++ {
		d, need, low, _ := p.spendLease(buf, len(buf), now)
		if !need {
			if low {
				if err := p.takeLease(p.book, string(buf), now); err != nil {
					t.Fatal(err)
				}
			}
			return d
		}
		if err := p.takeLease(p.book, string(buf), now); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("no decision after 4 leases")
	return countDecision{}
}

// leasePolicy builds a redis-lease limit-count of the test's identity on
// a gateway of its own (its own dict), cleaned up when the test ends.
func leasePolicy(t *testing.T, env *engine.Env, config string) *limitCount {
	t.Helper()
	p := buildLimit[*limitCount](t, `{ name: limit-count, config: { policy: redis-lease, `+config+` } }`, env)
	t.Cleanup(p.Cleanup)
	return p
}

// redisInt reads an integer key of the server (0 when absent).
func redisInt(t *testing.T, do func(...string) (string, error), key string) int64 {
	t.Helper()
	out, err := do("GET", key)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(out, 10, 64)
	return n
}

func TestLimitLeaseConfig(t *testing.T) {
	_, rc := testRedis(t)
	env := limitEnv(t, rc)
	for _, tc := range []struct{ config, want string }{
		{`{ count: 10, window: 1s, policy: redis-lease, lease: 11 }`, "config.lease: must be between 1 and the limit's count (10), got 11"},
		{`{ count: 10, window: 1s, policy: redis-lease, lease: -1 }`, "config.lease: must be between 1 and the limit's count (10), got -1"},
		{`{ limits: [ { count: 100, window: 1s }, { count: 5, window: 1h } ], policy: redis-lease, lease: 10 }`, "config.lease: must be between 1 and the limit's count (5), got 10"},
		{`{ limits: [ { count: 100, window: 1s, lease: 200 } ], policy: redis-lease }`, "config.limits[0].lease: must be between 1 and the limit's count (100), got 200"},
		{`{ count: 10, window: 1s, lease: 2 }`, "config.lease: is for policy: redis-lease"},
		{`{ count: 10, window: 1s, policy: redis, lease: 2 }`, "config.lease: is for policy: redis-lease"},
		{`{ limits: [ { count: 10, window: 1s, lease: 2 } ] }`, "config.limits[0].lease: is for policy: redis-lease"},
		{`{ count: 10, window: 1s, policy: redis-lease, dict: other }`, `config.dict: shared dict "other" is not declared in shared_dicts (policy: redis-lease spends its leases there)`},
	} {
		_, err := Build(specOf(t, `{ name: limit-count, config: `+tc.config+` }`), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", tc.config, err, tc.want)
		}
	}
	for _, tc := range []struct{ policy, want string }{
		{`{ name: limit-req, config: { rate: 1r/s, policy: redis-lease } }`, `config.policy: redis-lease is for limit-count; limit-req takes "local" or "redis"`},
		{`{ name: limit-conn, config: { max: 1, policy: redis-lease } }`, `config.policy: redis-lease is for limit-count; limit-conn takes "local" or "redis"`},
	} {
		_, err := Build(specOf(t, tc.policy), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", tc.policy, err, tc.want)
		}
	}
	if _, err := Build(specOf(t, `{ name: limit-count, config: { count: 1, window: 1s, policy: redis-lease } }`), limitEnv(t, nil)); err == nil ||
		!strings.Contains(err.Error(), "config.policy: redis-lease needs the top-level redis section") {
		t.Errorf("redis-lease without redis: %v", err)
	}
	// Defaults: 1% of count, at least 1; a top-level lease is every
	// limit's default, a limit's own lease wins.
	for _, tc := range []struct {
		config string
		want   []int64
	}{
		{`count: 1000, window: 1m`, []int64{10}},
		{`count: 50, window: 1m`, []int64{1}},
		{`count: 1000, window: 1m, lease: 25`, []int64{25}},
		{`limits: [ { count: 100, window: 1s }, { count: 100000, window: 24h } ]`, []int64{1, 1000}},
		{`limits: [ { count: 100, window: 1s }, { count: 100000, window: 24h, lease: 500 } ], lease: 20`, []int64{20, 500}},
		{`calendar: month, count: 300000, window_type: fixed`, []int64{3000}},
	} {
		p := leasePolicy(t, env, tc.config)
		for i, want := range tc.want {
			if l := p.limits[i]; l.lease != want || l.low != want/2 {
				t.Errorf("%s: limit %d: lease %d (low %d), want %d", tc.config, i, l.lease, l.low, want)
			}
		}
	}
}

// Two gateways spending leases of one limit in one window admit exactly
// count together (a lease is counted in Redis before it is spent), and
// Redis sees one call per lease.
func TestLimitLeaseTwoGatewaysExact(t *testing.T) {
	for _, tc := range []struct{ name, config string }{
		{"fixed", `count: 1000, window: 1h, lease: 20`},
		{"sliding", `count: 1000, window: 1h, lease: 20, window_type: sliding`},
		{"calendar-month", `count: 1000, calendar: month, lease: 20`},
		{"group", `count: 1000, window: 1h, lease: 20, group: shared`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, rc := testRedis(t)
			a := leasePolicy(t, limitEnv(t, rc), tc.config)
			b := leasePolicy(t, limitEnv(t, rc), tc.config)
			now := time.Now().UnixNano()
			calls := rc.Stats().Calls
			admitted := 0
			for i := 0; i < 1500; i++ {
				p := a
				if i%3 == 0 {
					p = b
				}
				if leaseAt(t, p, "vk", now+int64(i)).allowed {
					admitted++
				}
			}
			made := rc.Stats().Calls - calls
			t.Logf("admitted %d of 1500 (count 1000, lease 20, two gateways); %d Redis calls, %.4f per request", admitted, made, float64(made)/1500)
			if admitted != 1000 {
				t.Fatalf("admitted %d, want 1000", admitted)
			}
			// 50 leases; each gateway's call that found nothing left is saved
			// by the marker of the call that took the last requests.
			if made > 52 {
				t.Fatalf("%d Redis calls for 1000 admitted requests in leases of 20", made)
			}
			num, _, _ := a.limits[0].bounds(now)
			if got := redisInt(t, rs.Do, a.redisKeyPf+"vk}:0:"+strconv.FormatInt(num, 36)); got != 1000 {
				t.Fatalf("Redis counts %d, want 1000", got)
			}
		})
	}
}

// The unspent part of a lease goes back to Redis when the policy is
// cleaned up, and at the end of a sliding window (whose count still
// weighs in the next one).
func TestLimitLeaseGivenBack(t *testing.T) {
	rs, rc := testRedis(t)
	env := limitEnv(t, rc)
	p := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1000, window: 1h, policy: redis-lease, lease: 50 } }`, env)
	now := time.Now().UnixNano()
	for i := 0; i < 7; i++ {
		if !leaseAt(t, p, "vk", now).allowed {
			t.Fatal("refused")
		}
	}
	key := p.redisKeyPf + "vk}:0:" + strconv.FormatInt(now/int64(time.Hour), 36)
	if got := redisInt(t, rs.Do, key); got != 50 {
		t.Fatalf("Redis counts %d after one lease of 50", got)
	}
	// A reload: a newer version of the same identity keeps the leases.
	q := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1000, window: 1h, policy: redis-lease, lease: 50 } }`, env)
	p.Cleanup()
	if got := redisInt(t, rs.Do, key); got != 50 {
		t.Fatalf("Redis counts %d after a reload, want the lease kept (50)", got)
	}
	if !leaseAt(t, q, "vk", now).allowed {
		t.Fatal("refused after the reload")
	}
	q.Cleanup()
	if got := redisInt(t, rs.Do, key); got != 8 {
		t.Fatalf("Redis counts %d after the last Cleanup, want the 8 spent", got)
	}
	waitNoSweepers(t)

	// Sliding: the janitor gives back what the window did not spend once
	// it has ended.
	s := leasePolicy(t, env, `count: 1000, window: 1h, lease: 50, window_type: sliding, group: sliding`)
	for i := 0; i < 3; i++ {
		leaseAt(t, s, "vk", now)
	}
	skey := s.redisKeyPf + "vk}:0:" + strconv.FormatInt(now/int64(time.Hour), 36)
	end := (now/int64(time.Hour) + 1) * int64(time.Hour)
	s.book.sweep(end + 1)
	if got := redisInt(t, rs.Do, skey); got != 3 {
		t.Fatalf("sliding: Redis counts %d after the window ended, want the 3 spent", got)
	}
}

// waitNoSweepers waits until every lease janitor has ended.
func waitNoSweepers(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); leaseSweepers.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d lease janitors still running 10s after their books were released", leaseSweepers.Load())
		}
	}
}

// A lease held but unused goes back after leaseIdle, and the janitor
// ends when its book holds nothing: nothing leaks.
func TestLimitLeaseIdleGivenBack(t *testing.T) {
	rs, rc := testRedis(t)
	p := leasePolicy(t, limitEnv(t, rc), `count: 1000, window: 1h, lease: 40`)
	now := time.Now().UnixNano()
	leaseAt(t, p, "vk", now)
	key := p.redisKeyPf + "vk}:0:" + strconv.FormatInt(now/int64(time.Hour), 36)
	for deadline := time.Now().Add(15 * time.Second); redisInt(t, rs.Do, key) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Redis counts %d 15s after the lease went idle, want 1", redisInt(t, rs.Do, key))
		}
	}
	waitNoSweepers(t)
	p.book.mu.Lock()
	held, inflight := len(p.book.held), len(p.book.inflight)
	p.book.mu.Unlock()
	if held != 0 || inflight != 0 {
		t.Fatalf("book still holds %d leases, %d fetches", held, inflight)
	}
}

// A window Redis has no more of is refused on the gateway without asking
// Redis again (until leaseRecheck), with the window's end as Retry-After;
// the next window starts afresh. Several limits: one without room
// refuses and the others' leases are not spent.
func TestLimitLeaseExhaustedAndSeveralLimits(t *testing.T) {
	_, rc := testRedis(t)
	p := leasePolicy(t, limitEnv(t, rc), `limits: [ { count: 5, window: 10s, lease: 2 }, { count: 100, window: 1h, lease: 10 } ]`)
	w0 := (time.Now().UnixNano()/int64(10*time.Second) + 1) * int64(10*time.Second)
	for i := 0; i < 5; i++ {
		if d := leaseAt(t, p, "vk", w0); !d.allowed {
			t.Fatalf("request %d refused", i)
		}
	}
	calls := rc.Stats().Calls
	for i := 0; i < 20; i++ {
		d := leaseAt(t, p, "vk", w0+int64(time.Second))
		if d.allowed || d.which != 0 || d.retryIn != int64(9*time.Second) {
			t.Fatalf("over the limit: %+v", d)
		}
	}
	if n := rc.Stats().Calls - calls; n != 0 {
		t.Fatalf("%d Redis calls to refuse in an exhausted window", n)
	}
	// The next window: passes; the hour limit's lease was not touched by
	// the refusals: 10 taken, 5 spent, 10 more prefetched when the fifth
	// brought it to its low-water mark (5), 1 spent now.
	d := leaseAt(t, p, "vk", w0+int64(10*time.Second))
	if !d.allowed {
		t.Fatalf("next window: %+v", d)
	}
	buf := append(append([]byte(nil), p.prefix...), "vk"...)
	num, _, _ := p.limits[1].bounds(w0)
	v, ok := p.dict.Get(appendWindowSuffix(buf, 1, num), nil)
	if !ok || v.Int != 14 {
		t.Fatalf("hour lease balance %v %v, want 14 (20 taken, 6 spent)", v.Int, ok)
	}
}

// Traffic that leaves a gateway holding a lease: the other gateway,
// refused once Redis has nothing left, gets the idle lease once it has
// gone back (leaseIdle) and it asks again (leaseRecheck): the window
// admits count in all.
func TestLimitLeaseIdleLeaseReachesTheOtherGateway(t *testing.T) {
	_, rc := testRedis(t)
	a := leasePolicy(t, limitEnv(t, rc), `count: 100, window: 1h, lease: 20`)
	b := leasePolicy(t, limitEnv(t, rc), `count: 100, window: 1h, lease: 20`)
	now := time.Now().UnixNano()
	if !leaseAt(t, a, "vk", now).allowed {
		t.Fatal("refused")
	}
	admitted := 1
	for i := 0; i < 200; i++ {
		if leaseAt(t, b, "vk", now).allowed {
			admitted++
		}
	}
	if admitted != 81 {
		t.Fatalf("admitted %d with 19 held by the idle gateway, want 81", admitted)
	}
	for deadline := time.Now().Add(15 * time.Second); admitted < 100; time.Sleep(50 * time.Millisecond) {
		if leaseAt(t, b, "vk", now).allowed {
			admitted++
		}
		if time.Now().After(deadline) {
			t.Fatalf("admitted %d 15s after the traffic left the gateway holding a lease, want 100", admitted)
		}
	}
	for i := 0; i < 10; i++ {
		if leaseAt(t, b, "vk", now).allowed {
			t.Fatal("admitted more than count")
		}
	}
}
