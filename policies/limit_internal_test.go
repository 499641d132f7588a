package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/redis/redistest"
	"github.com/sluice-gw/sluice/shm"
)

// The limits' decisions, with the clock as an argument: window edges,
// sliding estimates and bucket timings are checked at exact instants,
// without sleeping. The same sequences run against the shared dict and a
// real redis-server, which must agree.

// limitEnv is an Env with a "limits" dict (and Redis when rc is not nil).
func limitEnv(t testing.TB, rc *redis.Client) *engine.Env {
	t.Helper()
	dicts, err := shm.NewRegistry(map[string]int64{"limits": 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Env{Dicts: dicts, Scope: "route:r", ID: t.Name(), Redis: rc}
}

// testRedis starts a redis-server and returns a connected client.
func testRedis(t testing.TB) (*redistest.Server, *redis.Client) {
	t.Helper()
	rs := redistest.Start(t)
	r := &config.Redis{Addresses: []string{rs.Addr()}, DialTimeout: config.Duration(time.Second),
		ReadTimeout: config.Duration(2 * time.Second)}
	if err := (&config.Config{Redis: r}).Validate(); err != nil {
		t.Fatal(err)
	}
	rc, err := redis.New(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	for deadline := time.Now().Add(15 * time.Second); !rc.Connected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis client did not connect")
		}
	}
	return rs, rc
}

func buildLimit[P any](t testing.TB, policy string, env *engine.Env) P {
	t.Helper()
	cfg, err := config.Parse([]byte("routes:\n  - match: { paths: [\"/*\"] }\n    policies:\n      - "+policy+"\n"), "p.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	pol, err := Build(cfg.Routes.At(0).Policies[0], env)
	if err != nil {
		t.Fatalf("%s: %v", policy, err)
	}
	p, ok := pol.(P)
	if !ok {
		t.Fatalf("%s built %T", policy, pol)
	}
	return p
}

// countAt decides one request of key at now, locally or in Redis.
func countAt(t *testing.T, p *limitCount, key string, now int64) countDecision {
	t.Helper()
	if p.redis != nil {
		d, err := p.decideRedis(context.Background(), p.redisKeyPf+key+"}", now)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	buf := append(append([]byte(nil), p.prefix...), key...)
	d, _ := p.decideLocal(buf, len(buf), now)
	return d
}

// stores runs f against the local policy and, with a redis-server, the
// same policy with policy: redis.
func stores(t *testing.T, f func(t *testing.T, policy string, env *engine.Env)) {
	t.Run("local", func(t *testing.T) { f(t, "local", limitEnv(t, nil)) })
	t.Run("redis", func(t *testing.T) {
		_, rc := testRedis(t)
		f(t, "redis", limitEnv(t, rc))
	})
}

// windowStart is an instant at the start of a window of length w.
func windowStart(w time.Duration) int64 {
	return (time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()/int64(w) + 1) * int64(w)
}

func TestLimitCountFixedWindowEdges(t *testing.T) {
	stores(t, func(t *testing.T, policy string, env *engine.Env) {
		p := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 3, window: 10s, policy: `+policy+` } }`, env)
		w0 := windowStart(10 * time.Second)
		last := w0 + int64(10*time.Second) - 1 // the window's last nanosecond
		for i, tc := range []struct {
			now       int64
			allowed   bool
			remaining int64
			resetIn   int64
		}{
			{w0, true, 2, int64(10 * time.Second)},
			{w0 + 1, true, 1, int64(10*time.Second) - 1},
			{last, true, 0, 1},
			{last, false, 0, 1},
			{last + 1, true, 2, int64(10 * time.Second)}, // a new window: from zero
			{last + 2, true, 1, int64(10*time.Second) - 1},
		} {
			d := countAt(t, p, "vk", tc.now)
			if d.allowed != tc.allowed || d.remaining != tc.remaining || d.resetIn != tc.resetIn {
				t.Fatalf("request %d: %+v, want allowed=%v remaining=%d resetIn=%d", i, d, tc.allowed, tc.remaining, tc.resetIn)
			}
			if !d.allowed && d.retryIn != 1 {
				t.Fatalf("request %d: retry in %d, want 1ns (the window's end)", i, d.retryIn)
			}
		}
		// Another key has its own counter.
		if d := countAt(t, p, "vother", last); !d.allowed || d.remaining != 2 {
			t.Fatalf("other key: %+v", d)
		}
	})
}

func TestLimitCountSlidingWindowEstimate(t *testing.T) {
	stores(t, func(t *testing.T, policy string, env *engine.Env) {
		p := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 10, window: 10s, window_type: sliding, policy: `+policy+` } }`, env)
		w := int64(10 * time.Second)
		w0 := windowStart(10 * time.Second)
		for i := 0; i < 10; i++ {
			if d := countAt(t, p, "vk", w0+int64(i)); !d.allowed {
				t.Fatalf("request %d of the first window refused: %+v", i, d)
			}
		}
		if d := countAt(t, p, "vk", w0+w-1); d.allowed {
			t.Fatalf("11th request in the window admitted: %+v", d)
		}
		// At the next window's start the previous one still weighs fully:
		// 10 + 0 ≥ 10.
		if d := countAt(t, p, "vk", w0+w); d.allowed {
			t.Fatalf("first request of the next window admitted: %+v", d)
		} else if d.retryIn <= 0 || d.retryIn > w/10+1 {
			t.Fatalf("retry in %v, want about 1s (when the previous window weighs 9)", time.Duration(d.retryIn))
		}
		// 30% into it: floor(10*0.7) = 7 → 3 requests fit.
		at := w0 + w + 3*w/10
		for i := 0; i < 3; i++ {
			d := countAt(t, p, "vk", at)
			if !d.allowed || d.remaining != int64(2-i) {
				t.Fatalf("request %d at 30%%: %+v, want allowed with %d left", i, d, 2-i)
			}
		}
		if d := countAt(t, p, "vk", at); d.allowed {
			t.Fatalf("4th request at 30%% admitted: %+v", d)
		}
		// 90% into it: floor(10*0.1) + 3 = 4 → 6 more fit.
		at = w0 + w + 9*w/10
		n := 0
		for countAt(t, p, "vk", at).allowed {
			n++
			if n > 20 {
				break
			}
		}
		if n != 6 {
			t.Fatalf("%d requests admitted at 90%%, want 6", n)
		}
		// At the third window's start the second one (9 requests) weighs
		// fully: one more fits. A window later it weighs nothing.
		for _, tc := range []struct {
			at   int64
			want int
		}{{w0 + 2*w, 1}, {w0 + 4*w, 10}} {
			n := 0
			for countAt(t, p, "vk", tc.at).allowed {
				if n++; n > 20 {
					break
				}
			}
			if n != tc.want {
				t.Fatalf("%d admitted at window %d, want %d", n, (tc.at-w0)/w, tc.want)
			}
		}
	})
}

func TestLimitCountSeveralLimits(t *testing.T) {
	stores(t, func(t *testing.T, policy string, env *engine.Env) {
		p := buildLimit[*limitCount](t, `{ name: limit-count, config: { limits: [ { count: 2, window: 1s }, { count: 5, window: 1h } ], policy: `+policy+` } }`, env)
		h0 := windowStart(time.Hour)
		s := int64(time.Second)
		admitted := 0
		for sec := int64(0); sec < 5; sec++ {
			for i := 0; i < 3; i++ { // 3 per second: the third is over 2/s
				d := countAt(t, p, "vk", h0+sec*s+int64(i))
				if d.allowed {
					admitted++
				}
				switch {
				case i == 2 && d.allowed:
					t.Fatalf("second %d: a third request admitted", sec)
				case i == 2 && sec < 2 && d.which != 0:
					t.Fatalf("second %d: refused by limit %d, want the per-second one", sec, d.which)
				}
			}
		}
		// 2+2+1: the hourly limit is reached during the third second, and
		// refusals by the per-second limit did not eat the hourly quota.
		if admitted != 5 {
			t.Fatalf("%d admitted in five seconds, want 5 (the hourly limit)", admitted)
		}
		d := countAt(t, p, "vk", h0+10*s)
		if d.allowed || d.which != 1 || d.resetIn != int64(time.Hour)-10*s {
			t.Fatalf("after the hourly quota: %+v", d)
		}
		// The tightest limit is reported on success.
		d = countAt(t, p, "vfresh", h0)
		if !d.allowed || d.which != 0 || d.remaining != 1 {
			t.Fatalf("fresh key: %+v, want the per-second limit with 1 left", d)
		}
	})
}

func TestLimitCountCalendarMonth(t *testing.T) {
	p := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 2, calendar: month } }`, limitEnv(t, nil))
	feb := time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC).UnixNano()
	mar := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := 0; i < 2; i++ {
		if d := countAt(t, p, "vk", feb); !d.allowed || d.resetIn != int64(time.Second) {
			t.Fatalf("february request %d: %+v", i, d)
		}
	}
	if d := countAt(t, p, "vk", feb); d.allowed {
		t.Fatal("third february request admitted")
	}
	d := countAt(t, p, "vk", mar)
	if !d.allowed || d.remaining != 1 || d.resetIn != int64(31*24*time.Hour) {
		t.Fatalf("march: %+v", d)
	}
}

// The Redis script and the dict agree on a random sequence of requests
// over several keys, limits and window edges.
func TestLimitCountRedisAgreesWithLocal(t *testing.T) {
	_, rc := testRedis(t)
	for _, typ := range []string{"fixed", "sliding"} {
		t.Run(typ, func(t *testing.T) {
			cfg := `{ name: limit-count, config: { limits: [ { count: 4, window: 2s }, { count: 9, window: 7s } ], window_type: ` + typ
			local := buildLimit[*limitCount](t, cfg+` } }`, limitEnv(t, nil))
			remote := buildLimit[*limitCount](t, cfg+`, policy: redis } }`, limitEnv(t, rc))
			rng := rand.New(rand.NewPCG(1, 2))
			now := windowStart(14 * time.Second)
			for i := 0; i < 400; i++ {
				now += rng.Int64N(int64(300 * time.Millisecond))
				key := fmt.Sprintf("v%d", rng.IntN(3))
				a, b := countAt(t, local, key, now), countAt(t, remote, key, now)
				if a.allowed != b.allowed || a.which != b.which || a.allowed && a.remaining != b.remaining {
					t.Fatalf("request %d (%s at +%v): local %+v, redis %+v", i, key, time.Duration(now%int64(14*time.Second)), a, b)
				}
			}
		})
	}
}

// reqAt runs one request through a limit-req bucket at now.
func reqAt(t *testing.T, p *limitReq, key string, now int64) reqDecision {
	t.Helper()
	if p.redis != nil {
		d, err := p.decideRedis(context.Background(), p.redisKeyPf+key+"}", now)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return p.decideLocal(append(append([]byte(nil), p.prefix...), key...), now)
}

func TestLimitReqLeakyBucket(t *testing.T) {
	stores(t, func(t *testing.T, policy string, env *engine.Env) {
		// 10r/s: one request per 100ms; a burst of 2 waits.
		p := buildLimit[*limitReq](t, `{ name: limit-req, config: { rate: 10r/s, burst: 2, policy: `+policy+` } }`, env)
		ms := int64(time.Millisecond)
		t0 := windowStart(time.Second)
		for i, tc := range []struct {
			at      int64
			allowed bool
			wait    int64
		}{
			{0, true, 0},         // an empty bucket: at once
			{0, true, 100 * ms},  // burst: delayed one interval
			{0, true, 200 * ms},  // burst: two intervals
			{0, false, 100 * ms}, // beyond the burst: refused; fits in 100ms
			{50 * ms, false, 50 * ms},
			{100 * ms, true, 200 * ms}, // one interval drained
			{1000 * ms, true, 0},       // the bucket drained: at once again
			{1000 * ms, true, 100 * ms},
		} {
			d := reqAt(t, p, "vk", t0+tc.at)
			if d.allowed != tc.allowed || d.wait != tc.wait {
				t.Fatalf("request %d at +%v: %+v, want allowed=%v wait=%v", i, time.Duration(tc.at), d, tc.allowed, time.Duration(tc.wait))
			}
		}
	})
}

func TestLimitReqRates(t *testing.T) {
	for in, want := range map[string]time.Duration{"10r/s": 100 * time.Millisecond, "1r/s": time.Second, "600r/m": 100 * time.Millisecond, "1r/m": time.Minute, " 4r/s ": 250 * time.Millisecond} {
		if got, err := parseRate(in); err != nil || got != int64(want) {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, time.Duration(got), err, want)
		}
	}
	for _, bad := range []string{"", "10", "10r/h", "0r/s", "-1r/s", "r/s", "1.5r/s", "10000000r/s"} {
		if _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) accepted", bad)
		}
	}
}

// With burst 0 nginx admits one request per interval and refuses the rest,
// whatever the order of arrivals within it.
func TestLimitReqNoBurstAdmitsOnePerInterval(t *testing.T) {
	p := buildLimit[*limitReq](t, `{ name: limit-req, config: { rate: 5r/s } }`, limitEnv(t, nil))
	t0 := windowStart(time.Second)
	admitted := 0
	for i := int64(0); i < 1000; i++ { // one request per ms for a second
		if reqAt(t, p, "vk", t0+i*int64(time.Millisecond)).allowed {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("%d admitted in one second at 5r/s, want 5", admitted)
	}
}

func TestLimitConfigErrors(t *testing.T) {
	env := limitEnv(t, nil)
	for _, tc := range []struct{ policy, want string }{
		{`{ name: limit-count, config: { count: 5, window: 1s, limits: [ { count: 1, window: 1s } ] } }`, "config.limits: give either count and window, or limits"},
		{`{ name: limit-count, config: { limits: [ { count: 1, window: 1s }, { count: 0, window: 1h } ] } }`, "config.limits[1].count: must be > 0"},
		{`{ name: limit-count, config: { limits: [ { count: 1 } ] } }`, "config.limits[0].window: must be a positive duration"},
		{`{ name: limit-count, config: { count: 1, calendar: week } }`, `config.calendar: must be second, minute, hour, day or month, got "week"`},
		{`{ name: limit-count, config: { count: 1, calendar: day, window: 1s } }`, "config.calendar: give window or calendar, not both"},
		{`{ name: limit-count, config: { count: 1, calendar: day, window_type: sliding } }`, "config.calendar: calendar windows are fixed"},
		{`{ name: limit-count, config: { count: 1, window: 1s, window_type: rolling } }`, `config.window_type: must be "fixed" or "sliding"`},
		{`{ name: limit-count, config: { count: 1, window: 1s, policy: cluster } }`, `config.policy: must be "local", "redis" or "redis-lease"`},
		{`{ name: limit-count, config: { count: 1, window: 1s, policy: redis } }`, "config.policy: redis needs the top-level redis section"},
		{`{ name: limit-count, config: { count: 1, window: 1s, fault_tolerant: false } }`, "config.fault_tolerant: is for policy: redis"},
		{`{ name: limit-count, config: { count: 1, window: 1s, key_missing: deny } }`, `config.key_missing: must be "ip", "skip" or "reject"`},
		{`{ name: limit-count, config: { count: 1, window: 1s, key: "{nosuch_var}" } }`, `config.key: template "{nosuch_var}": unknown variable "nosuch_var"`},
		{`{ name: limit-count, config: { count: 1, window: 1s, key: "cookie:" } }`, "config.key: cookie:NAME needs a cookie name"},
		{`{ name: limit-req, config: { burst: 1 } }`, "config.rate: must be a rate such as 10r/s"},
		{`{ name: limit-req, config: { rate: 1r/s, burst: -1 } }`, "config.burst: must be between 0 and 1000000"},
		{`{ name: limit-conn, config: {} }`, "config.max: must be > 0"},
		{`{ name: limit-conn, config: { max: 1, slot_ttl: 1m } }`, "config.slot_ttl: is for policy: redis"},
		{`{ name: limit-conn, config: { max: 1, status: 302 } }`, "config.status: must be between 400 and 599"},
		{`{ name: limit-count, config: { count: 1, window: 1s, message: "slow\x01down" } }`, "config.message: must be printable text, got the control or unprintable character U+0001 at byte 4"},
		{`{ name: limit-req, config: { rate: 1r/s, message: "slow\ndown" } }`, "config.message: must be printable text"},
		{`{ name: limit-conn, config: { max: 1, message: "\x7f" } }`, "config.message: must be printable text"},
	} {
		_, err := Build(specOf(t, tc.policy), env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant it to contain %q", tc.policy, err, tc.want)
		}
	}
}

// Counters are named by the policy's identity (or its group), never by
// its position: the same identity finds the same counters.
func TestLimitCountersNamedByIdentity(t *testing.T) {
	env := limitEnv(t, nil)
	a := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1, window: 1h } }`, env)
	env2 := *env
	b := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1, window: 1h } }`, &env2)
	now := windowStart(time.Hour)
	if !countAt(t, a, "vk", now).allowed || countAt(t, b, "vk", now).allowed {
		t.Fatal("a rebuilt policy of the same identity does not share its counters")
	}
	env3 := *env
	env3.Scope = "route:other"
	if !countAt(t, buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1, window: 1h } }`, &env3), "vk", now).allowed {
		t.Fatal("a policy of another route shares the counters")
	}
	g1 := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1, window: 1h, group: api } }`, env)
	g2 := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1, window: 1h, group: api } }`, &env3)
	if !countAt(t, g1, "vk", now).allowed || countAt(t, g2, "vk", now).allowed {
		t.Fatal("two routes of one group do not share the counters")
	}
}

// The local decisions by themselves (the key is built before, in the
// context's scratch buffer): what a limit adds to a request beyond
// evaluating its key.
func limitHotPaths(t testing.TB) []struct {
	name string
	f    func()
} {
	env := limitEnv(t, nil)
	now := windowStart(time.Hour) + int64(time.Minute)
	fixed := buildLimit[*limitCount](t, `{ name: limit-count, config: { count: 1000000000, window: 1h } }`, env)
	sliding := buildLimit[*limitCount](t, `{ name: limit-count, config: { limits: [ { count: 1000000000, window: 1s }, { count: 1000000000, window: 24h } ], window_type: sliding, group: s } }`, env)
	req := buildLimit[*limitReq](t, `{ name: limit-req, config: { rate: 1000000r/s, burst: 1000000, nodelay: true } }`, env)
	conn := buildLimit[*limitConn](t, `{ name: limit-conn, config: { max: 1000 } }`, env)
	key := func(p *limitBase) []byte { return append(append(make([]byte, 0, 128), p.prefix...), "i203.0.113.7"...) }
	fk, sk, rk, ck := key(fixed.limitBase), key(sliding.limitBase), key(req.limitBase), key(conn.limitBase)
	return []struct {
		name string
		f    func()
	}{
		{"limit-count/fixed", func() { _, fk = fixed.decideLocal(fk, len(fixed.prefix)+12, now) }},
		{"limit-count/sliding+2-limits", func() { _, sk = sliding.decideLocal(sk, len(sliding.prefix)+12, now) }},
		{"limit-req", func() { now += 1000; req.decideLocal(rk, now) }},
		{"limit-conn/take+give-back", func() {
			_, _ = conn.dict.Incr(ck, 1, 0, 0)
			_, _ = conn.dict.IncrExisting(ck, -1)
		}},
	}
}

// Keys on variables other policies register: jwt-auth's jwt_claim_NAME and
// the auth policies' credential are accepted by name and in templates; a
// variable nobody registers is refused with the known ones.
func TestLimitKeysOnRegisteredVariables(t *testing.T) {
	for _, k := range []string{"jwt_claim_company_id", "{consumer}:{jwt_claim_user_id}", "consumer_meta_tier", "param_page", "credential", "{consumer}:{credential}"} {
		if key, err := parseRequestKey(k); err != nil || key.source != keyTemplate || key.String() == "" {
			t.Errorf("parseRequestKey(%q) = %+v, %v", k, key, err)
		}
	}
	if _, err := parseRequestKey("credentials"); err == nil || !strings.Contains(err.Error(), `unknown variable "credentials"`) || !strings.Contains(err.Error(), "credential,") {
		t.Errorf("an unregistered variable: %v", err)
	}
	for _, bad := range []string{"{}", "static-text-{{x}}", "Consumer", "arg:", "arg:a&b", "cookie:a;b"} {
		if _, err := parseRequestKey(bad); err == nil {
			t.Errorf("parseRequestKey(%q) accepted", bad)
		}
	}
}

// Regression: a limit's message went into the refusal's JSON body with
// strconv.AppendQuote, so a control character came out as \x01, which
// is not JSON. Every message the config accepts must quote to a JSON
// string that decodes back to it; the check refuses the rest.
func TestLimitMessageAcceptedOnlyIfItQuotesToJSON(t *testing.T) {
	try := func(msg string) {
		if checkLimitMessage(msg) != "" {
			return
		}
		var got string
		if err := json.Unmarshal(strconv.AppendQuote(nil, msg), &got); err != nil || got != msg {
			t.Fatalf("accepted %q, quoted as %s: %v (decoded %q)", msg, strconv.AppendQuote(nil, msg), err, got)
		}
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		try("a" + string(r) + "b")
	}
	for b := 0; b < 256; b++ {
		try("a" + string([]byte{byte(b)}) + "b")
	}
	for _, msg := range []string{`say "no"`, `back\slash`, "café", "\uFFFD", "🚦 wait"} {
		if err := checkLimitMessage(msg); err != "" {
			t.Errorf("%q refused: %s", msg, err)
		}
	}
	for _, msg := range []string{"\x01", "a\tb", "\r\n", "\xff", "\xc3", "\u200b", "\U000e0001"} {
		if checkLimitMessage(msg) == "" {
			t.Errorf("%q accepted", msg)
		}
	}
}
