package policies_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/policies"
	"github.com/sluice-gw/sluice/redis/redistest"
)

// The fleet-wide fill lock (lock_scope: fleet) on real loopback gateways
// sharing one redis-server. Orderings are forced by upstreams that hold
// requests until the test releases them, and by waiting for what Redis
// saw, never by sleeping.

const fleetIdentity = "route:api/cache"

// gatedUpstream answers JSON naming itself and counts the requests of
// each path. Requests whose path starts with /gated are held until the
// test releases their path (or ends); /gated-fail ones are then answered
// 500, which the cache does not store.
type gatedUpstream struct {
	name   string
	end    chan struct{}
	mu     sync.Mutex
	counts map[string]int
	gates  map[string]*gate
}

type gate struct {
	arrived chan struct{} // one value per request held
	open    chan struct{}
	once    sync.Once
}

func startGatedUpstream(t *testing.T, name string) (*gatedUpstream, string) {
	t.Helper()
	u := &gatedUpstream{name: name, end: make(chan struct{}), counts: map[string]int{}, gates: map[string]*gate{}}
	t.Cleanup(func() { close(u.end) })
	addr := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.counts[r.URL.Path]++
		u.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/gated") {
			g := u.gate(r.URL.Path)
			g.arrived <- struct{}{}
			select {
			case <-g.open:
			case <-u.end:
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/gated-fail") {
			w.WriteHeader(500)
		}
		fmt.Fprintf(w, `{"from":%q,"path":%q}`, u.name, r.URL.Path)
	})
	return u, addr
}

func (u *gatedUpstream) gate(path string) *gate {
	u.mu.Lock()
	defer u.mu.Unlock()
	g := u.gates[path]
	if g == nil {
		g = &gate{arrived: make(chan struct{}, 1000), open: make(chan struct{})}
		u.gates[path] = g
	}
	return g
}

// release lets the requests of path held now and later through.
func (u *gatedUpstream) release(path string) {
	g := u.gate(path)
	g.once.Do(func() { close(g.open) })
}

func (u *gatedUpstream) count(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[path]
}

// waitArrival waits until the upstream holds a request of path.
func (u *gatedUpstream) waitArrival(t *testing.T, path string) {
	t.Helper()
	select {
	case <-u.gate(path).arrived:
	case <-time.After(10 * time.Second):
		t.Fatalf("upstream %s: no request of %s arrived", u.name, path)
	}
}

// fleetGateways starts gateways (two workers each) on their upstreams,
// sharing the Redis, with a fleet-locked cache config, and waits until
// every one has its Redis client connected: an entry one stores is an L2
// hit for the next.
func fleetGateways(t *testing.T, rs *redistest.Server, cacheCfg string, upstreams ...string) []*gateway {
	t.Helper()
	gs := make([]*gateway, len(upstreams))
	for i, up := range upstreams {
		gs[i] = startGateway(t, up, cacheE2EYAML(2, rs.Addr(), cacheCfg))
	}
	for probe, deadline := 0, time.Now().Add(15*time.Second); ; probe++ {
		target := "/probe-" + strconv.Itoa(probe)
		connected := true
		for i, g := range gs {
			resp, _ := e2eGet(t, g.addr, target)
			want := "HIT"
			if i == 0 {
				want = "MISS"
			}
			if resp.Header.Get("X-Cache-Status") != want {
				connected = false
				break
			}
			if i == 0 && !waitRedis(rs, "EXISTS", "sluice:cache:c2|"+fleetIdentity+"|GET|-||api.test"+target+"?") {
				connected = false
				break
			}
		}
		if connected {
			return gs
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateways' Redis clients did not connect within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisCalls is how many times the server ran cmd (INFO commandstats).
func redisCalls(t *testing.T, rs *redistest.Server, cmd string) int {
	t.Helper()
	n, err := rs.Calls(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// waitRedis waits up to 2s for a command to answer "1" (an L2 write or a
// lock release is done off the loop, after the response).
func waitRedis(rs *redistest.Server, args ...string) bool {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if v, err := rs.Do(args...); err == nil && v == "1" {
			return true
		}
	}
	return false
}

func cacheStat(name string) int64 { return policies.CacheStats(fleetIdentity)[name] }

// waitFor polls cond up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

// Two gateways, many concurrent misses on one cold key on each: one
// request upstream for the whole fleet. The upstream holds it until every
// miss is waiting (the other gateway's filler on the lock, the others in
// their gateway's fill table), so the test does not depend on timing.
func TestCacheFleetLockStampede(t *testing.T) {
	rs := redistest.Start(t)
	up, addr := startGatedUpstream(t, "up")
	gs := fleetGateways(t, rs, `{ l2: redis, l2_timeout: 2s, lock_scope: fleet, lock_timeout: 5s, lock_poll: 10ms }`, addr, addr)
	const perGateway = 50
	coalesced := cacheStat("coalesced_waits")
	waitsBefore := cacheStat("fleet_waits")
	gets := redisCalls(t, rs, "get")
	results := make([][]string, len(gs))
	var wg sync.WaitGroup
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = concurrentGets(t, g.addr, "/gated-cold", perGateway)
		}()
	}
	up.waitArrival(t, "/gated-cold")
	waitFor(t, "every other miss to wait in its gateway's fill table", func() bool {
		return cacheStat("coalesced_waits")-coalesced == 2*perGateway-2
	})
	// The losing gateway's filler waits for the lock, and has polled L2
	// (GETs beyond the two lookups). (A slow Redis is a miss: l2_timeout
	// is long enough for a loaded machine, so that the test sees the lock
	// and not a failure.)
	waitFor(t, "the other gateway to wait for the lock", func() bool {
		if n := up.count("/gated-cold"); n != 1 {
			t.Fatalf("%d upstream requests while the filler is held; want 1 (l2_errors %d)", n, cacheStat("l2_errors"))
		}
		return cacheStat("fleet_waits")-waitsBefore == 1 && redisCalls(t, rs, "get")-gets >= 4
	})
	if n := up.count("/gated-cold"); n != 1 {
		t.Fatalf("%d upstream requests while the filler is held; want 1", n)
	}
	up.release("/gated-cold")
	wg.Wait()
	all := append(results[0], results[1]...)
	t.Logf("%d MISS, %d HIT; upstream requests: %d", countOf(all, "200 MISS"), countOf(all, "200 HIT"), up.count("/gated-cold"))
	if up.count("/gated-cold") != 1 || countOf(all, "200 MISS") != 1 || countOf(all, "200 HIT") != 2*perGateway-1 {
		t.Fatalf("%v; %d upstream requests, want 1 and every other request a hit", all, up.count("/gated-cold"))
	}
	if n := cacheStat("fleet_waits") - waitsBefore; n != 1 {
		t.Fatalf("fleet_waits grew by %d, want 1 (one gateway's filler)", n)
	}
	if !waitRedis(rs, "EVAL", "return #redis.call('KEYS', 'sluice:cache-lock:*') == 0 and 1 or 0", "0") {
		t.Fatal("the lock was not deleted after the entry was stored")
	}
}

// startGet sends a GET of target (Host api.test) on a new connection and
// leaves the response unread; the connection closes when the test ends.
func startGet(t *testing.T, addr, target string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: api.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// fleetLockKey is the Redis lock of GET target on route api (the
// default key, no consumer, Host api.test).
func fleetLockKey(target string) string {
	return "sluice:cache-lock:c2|" + fleetIdentity + "|GET|-||api.test" + target + "?"
}

// When the lock's holder does not fill the key, the others go upstream:
// as soon as its response turns out uncacheable (it deletes the lock,
// another gateway takes it over), when its lock expires because its
// request hangs (taken over), and after their own lock_timeout when a
// lock outlives it. None of them is answered an error because of the
// lock.
func TestCacheFleetLockHolderFails(t *testing.T) {
	rs := redistest.Start(t)
	upA, addrA := startGatedUpstream(t, "a")
	upB, addrB := startGatedUpstream(t, "b")
	const lockTimeout = time.Second
	gs := fleetGateways(t, rs, `{ l2: redis, l2_timeout: 1s, lock_scope: fleet, lock_timeout: 1s, lock_poll: 10ms }`, addrA, addrB)
	a, b := gs[0], gs[1]

	type answer struct {
		status, body string
		took         time.Duration
		at           time.Time // when it came
	}
	// getB sends one GET to gateway b in the background.
	getB := func(target string) chan answer {
		done := make(chan answer, 1)
		go func() {
			start := time.Now()
			resp, body := e2eGet(t, b.addr, target)
			done <- answer{fmt.Sprint(resp.StatusCode, " ", resp.Header.Get("X-Cache-Status")), body, time.Since(start), time.Now()}
		}()
		return done
	}
	pttl := func(key string) time.Duration {
		v, err := rs.Do("PTTL", key)
		ms, _ := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			t.Fatalf("PTTL %s: %q %v; want a live lock", key, v, err)
		}
		return time.Duration(ms) * time.Millisecond
	}

	t.Run("uncacheable", func(t *testing.T) {
		startGet(t, a.addr, "/gated-fail")
		upA.waitArrival(t, "/gated-fail")
		gets := redisCalls(t, rs, "get")
		done := getB("/gated-fail")
		waitFor(t, "gateway b to wait for the lock", func() bool { return redisCalls(t, rs, "get")-gets >= 3 })
		// Measured from before PTTL: b arriving sooner than left after it
		// arrived before the lock's expiry.
		asked := time.Now()
		left := pttl(fleetLockKey("/gated-fail"))
		upA.release("/gated-fail")
		upB.waitArrival(t, "/gated-fail")
		if since := time.Since(asked); since >= left {
			t.Fatalf("b went upstream %v after a's lock had %v left: it expired, it was not released", since, left)
		}
		upB.release("/gated-fail")
		if got := <-done; got.status != "500 MISS" || !strings.Contains(got.body, `"from":"b"`) {
			t.Fatalf("b: %+v", got)
		}
	})

	t.Run("holder hangs", func(t *testing.T) {
		startGet(t, a.addr, "/gated-hang") // never released: a's request outlives its lock
		upA.waitArrival(t, "/gated-hang")
		timeouts := cacheStat("fleet_lock_timeouts")
		// b's wait ends lock_timeout after it began, a's lock
		// lock_timeout after a took it: started at once, b's last look
		// came a few hundred microseconds after the lock's expiry, less
		// than Redis's millisecond rounding of PX on a loaded machine
		// (CI saw b give up). Starting b once a quarter of the lock has
		// passed puts its last look 250ms after the expiry.
		waitFor(t, "a quarter of a's lock to pass", func() bool { return pttl(fleetLockKey("/gated-hang")) <= lockTimeout*3/4 })
		asked := time.Now()
		left := pttl(fleetLockKey("/gated-hang"))
		done := getB("/gated-hang")
		upB.waitArrival(t, "/gated-hang")
		upB.release("/gated-hang")
		got := <-done
		// The lock expired no sooner than left after asked (PTTL rounds
		// down), and b could not take it before (1ms of clock slack).
		if got.status != "200 MISS" || !strings.Contains(got.body, `"from":"b"`) || got.at.Sub(asked) < left-time.Millisecond {
			t.Fatalf("b: %+v, %v after the lock had %v left; want its own upstream's answer once a's lock expired", got, got.at.Sub(asked), left)
		}
		if n := cacheStat("fleet_lock_timeouts") - timeouts; n != 0 {
			t.Fatalf("b gave up after lock_timeout (%d) rather than take the expired lock over", n)
		}
		resp, _ := e2eGet(t, b.addr, "/gated-hang")
		if resp.Header.Get("X-Cache-Status") != "HIT" {
			t.Fatalf("b's fill was not stored: %v", resp.Header)
		}
	})

	t.Run("lock outlives lock_timeout", func(t *testing.T) {
		// A lock of another config (a longer lock_timeout) or a stuck
		// script: the wait still ends after this gateway's lock_timeout.
		if _, err := rs.Do("SET", fleetLockKey("/held"), "someone", "PX", "60000"); err != nil {
			t.Fatal(err)
		}
		timeouts := cacheStat("fleet_lock_timeouts")
		got := <-getB("/held")
		if got.status != "200 MISS" || !strings.Contains(got.body, `"from":"b"`) || got.took < lockTimeout || got.took > lockTimeout+3*time.Second {
			t.Fatalf("b: %+v; want its own upstream's answer after lock_timeout (%v)", got, lockTimeout)
		}
		if n := cacheStat("fleet_lock_timeouts") - timeouts; n != 1 {
			t.Fatalf("fleet_lock_timeouts grew by %d, want 1", n)
		}
		if v, _ := rs.Do("GET", fleetLockKey("/held")); v != "someone" {
			t.Fatalf("the other holder's lock was deleted (%q): a gateway deletes only its own", v)
		}
	})
}

// Redis down: a fleet-locked miss goes upstream at once, as without the
// lock; the gateway's own misses are still coalesced.
func TestCacheFleetLockRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	var n atomic.Int64
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		time.Sleep(100 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	})
	g := fleetGateways(t, rs, `{ l2: redis, l2_timeout: 50ms, lock_scope: fleet, lock_timeout: 5s }`, up)[0]
	rs.Kill()
	before := n.Load()
	start := time.Now()
	got := concurrentGets(t, g.addr, "/down", 10)
	took := time.Since(start)
	if countOf(got, "200 MISS") != 1 || countOf(got, "200 HIT") != 9 || n.Load()-before != 1 {
		t.Fatalf("%v, %d upstream requests; want one miss upstream and nine hits", got, n.Load()-before)
	}
	if took > 2*time.Second {
		t.Fatalf("misses with Redis down took %v: they waited for the lock", took)
	}
	t.Logf("10 concurrent misses with Redis down: %v", took)
}
