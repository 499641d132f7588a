package engine_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/policies"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/redis/redistest"
)

// redisCountPolicy counts requests in Redis from off-loop work and passes
// the count upstream; Redis failing answers 503 with the reason — the call
// path every Redis-backed policy (limits, cache) takes.
type redisCountPolicy struct{ rc *redis.Client }

func init() {
	policies.Register("test-redis-count", func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
		if env.Redis == nil {
			return nil, config.FieldError(spec, "", "needs the redis section")
		}
		return &redisCountPolicy{rc: env.Redis}, nil
	})
}

func (p *redisCountPolicy) Priority() int { return 0 }
func (p *redisCountPolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

func (p *redisCountPolicy) access(x *engine.Ctx) engine.Status {
	return x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
		n, err := p.rc.IncrExpire(ctx, "test-redis-count", 1, time.Minute)
		return func(x *engine.Ctx) engine.Status {
			if err != nil {
				kind := "redis failed"
				switch {
				case errors.Is(err, redis.ErrUnavailable):
					kind = "redis unavailable"
				case errors.Is(err, redis.ErrTimeout):
					kind = "redis timed out"
				}
				x.RespondError(503, kind)
				return engine.Done
			}
			x.SetRequestHeaderString("X-Count", strconv.FormatInt(n, 10))
			return engine.Continue
		}
	})
}

func TestRedisCallPathSuspendsAndFailsFast(t *testing.T) {
	rs := redistest.Start(t)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Count", r.Header.Get("X-Count"))
	})
	g := startGateway(t, upstreamYAML("{listen}", `redis: { addresses: [`+rs.Addr()+`], read_timeout: 300ms }
routes:
  - name: counted
    match: { paths: ["/c"] }
    upstream: up
    policies: [ { name: test-redis-count } ]
  - name: plain
    match: { paths: ["/p"] }
    upstream: up
`, up.addr))
	get := func(path string) (*http.Response, string) {
		rc := dialRaw(t, g.addr)
		rc.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
		return rc.response("GET")
	}
	// The client connects in the background: wait for the first count.
	deadline := time.Now().Add(10 * time.Second)
	var resp *http.Response
	for {
		resp, _ = get("/c")
		if resp.StatusCode == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	first, _ := strconv.Atoi(resp.Header.Get("X-Count"))
	if resp.StatusCode != 200 || first < 1 {
		t.Fatalf("first count: %d %q", resp.StatusCode, resp.Header.Get("X-Count"))
	}
	for i := 1; i <= 3; i++ {
		resp, _ := get("/c")
		if got := resp.Header.Get("X-Count"); got != strconv.Itoa(first+i) {
			t.Fatalf("count %d: %q", i, got)
		}
	}

	// Redis paused (slow): a specific 503, bounded by read_timeout, and the
	// worker keeps serving other requests meanwhile.
	rs.Pause(3 * time.Second)
	start := time.Now()
	done := make(chan string, 1)
	go func() {
		_, body := get("/c")
		done <- body
	}()
	time.Sleep(50 * time.Millisecond)
	if resp, _ := get("/p"); resp.StatusCode != 200 {
		t.Fatalf("plain route while Redis is slow: %d", resp.StatusCode)
	}
	select {
	case body := <-done:
		if !strings.Contains(body, "redis timed out") {
			t.Fatalf("slow Redis: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a request waiting on a slow Redis hung")
	}
	if d := time.Since(start); d > 2500*time.Millisecond { // the pause is 3s, read_timeout 300ms
		t.Fatalf("slow Redis answered after %v: not bounded by read_timeout", d)
	}

	// Redis down: a specific 503, fast.
	rs.Stop()
	start = time.Now()
	_, body := get("/c")
	if !strings.Contains(body, "redis") || time.Since(start) > 5*time.Second {
		t.Fatalf("Redis down: %q after %v", body, time.Since(start))
	}
	waitInFlight(t, g, 0)
}
