package policies_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/redis/redistest"
)

// End-to-end tests of the limits on real gateways (sockets, several
// workers, several gateways sharing one redis-server): exactness under
// concurrency, delays on the worker's timer, slots given back however a
// request ends, Redis failing.

// limitE2EYAML is a gateway config: workers, an optional redis section,
// one route "api" with the policy items, and a route "plain" without.
func limitE2EYAML(workers int, redisAddr, items string) string {
	y := "listen: {listen}\nworkers: " + strconv.Itoa(workers) + "\nshared_dicts: { limits: 1MiB }\n"
	if redisAddr != "" {
		y += "redis: { addresses: [" + redisAddr + "], read_timeout: 500ms }\n"
	}
	return y + `upstreams:
  - name: up
    targets: [{ addr: "{upstream}" }]
    timeouts: { read: 2s }
    retries: { tries: 1 }
    health: { passive: { max_fails: -1 } }
routes:
  - name: plain
    match: { paths: ["/plain"] }
    upstream: up
  - name: api
    match: { paths: ["/*"] }
    upstream: up
    policies:
` + items
}

// awayFromDayEdge waits while a UTC day (the window of the exactness
// tests) ends within a minute.
func awayFromDayEdge() {
	day := int64(24 * time.Hour)
	if left := day - time.Now().UnixNano()%day; left < int64(time.Minute) {
		time.Sleep(time.Duration(left) + 100*time.Millisecond)
	}
}

// hammer sends perClient requests from each of clients goroutines, spread
// over the gateways' addresses, with the header lines fields, and counts
// the statuses.
func hammer(t *testing.T, addrs []string, clients, perClient int, fields ...string) map[int]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; i < perClient; i++ {
				req, _ := http.NewRequest("GET", "http://"+addrs[(c+i)%len(addrs)]+"/x", nil)
				for _, f := range fields {
					name, value, _ := strings.Cut(f, ": ")
					req.Header.Set(name, value)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				counts[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return counts
}

func TestLimitCountExactAcrossWorkers(t *testing.T) {
	up := fixedUpstream(t, []byte(fixedResp))
	g := startGateway(t, up, limitE2EYAML(2, "", `      - name: limit-count
        config: { limits: [ { count: 50, window: 24h }, { count: 1000, window: 24h } ], window_type: sliding, key: header:X-Api-Key }
`))
	awayFromDayEdge()
	counts := hammer(t, []string{g.addr}, 8, 25, "X-Api-Key: tenant-a")
	if counts[200] != 50 || counts[429] != 150 || len(counts) != 2 {
		t.Fatalf("statuses %v; want exactly 50 passed and 150 limited", counts)
	}
}

// Two gateways, two workers each, one Redis: a limit of N admits exactly N.
func TestLimitRedisExactAcrossGateways(t *testing.T) {
	rs := redistest.Start(t)
	up := fixedUpstream(t, []byte(fixedResp))
	for _, tc := range []struct {
		name, policy string
		clients, per int
		want         int
	}{
		{"limit-count", `{ name: limit-count, config: { count: 60, window: 24h, policy: redis, key: header:X-Api-Key } }`, 8, 20, 60},
		{"limit-count/sliding", `{ name: limit-count, config: { limits: [ { count: 45, window: 24h }, { count: 50, window: 24h } ], window_type: sliding, policy: redis, key: header:X-Api-Key } }`, 8, 20, 45},
		{"limit-req", `{ name: limit-req, config: { rate: 1r/m, burst: 29, nodelay: true, policy: redis, key: header:X-Api-Key } }`, 8, 20, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := limitE2EYAML(2, rs.Addr(), "      - "+tc.policy+"\n")
			g1, g2 := startGateway(t, up, yml), startGateway(t, up, yml)
			waitRedisLimit(t, g1.addr, g2.addr)
			awayFromDayEdge()
			counts := hammer(t, []string{g1.addr, g2.addr}, tc.clients, tc.per, "X-Api-Key: "+tc.name)
			if counts[200] != tc.want || counts[429] != tc.clients*tc.per-tc.want || len(counts) != 2 {
				t.Fatalf("statuses %v; want exactly %d passed", counts, tc.want)
			}
		})
	}
}

// waitRedisLimit waits until the gateways' Redis clients are connected: a
// request with a key of its own is counted (has X-RateLimit fields)
// rather than let through by fault tolerance.
func waitRedisLimit(t *testing.T, addrs ...string) {
	t.Helper()
	for _, addr := range addrs {
		cl := dial(t, addr)
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, _ := cl.do("GET", "/probe", "X-Api-Key: probe-"+addr+"-"+strconv.FormatInt(time.Now().UnixNano(), 10))
			if resp.Header.Get("X-RateLimit-Limit") != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no counted request within 15s", addr)
			}
		}
	}
}

// Redis down: fault_tolerant lets requests through uncounted; false
// answers 503 saying why; both come back by themselves with Redis.
func TestLimitRedisDown(t *testing.T) {
	rs := redistest.Start(t)
	up := fixedUpstream(t, []byte(fixedResp))
	open := startGateway(t, up, limitE2EYAML(1, rs.Addr(), "      - { name: limit-count, config: { count: 1000, window: 24h, policy: redis } }\n"))
	closed := startGateway(t, up, limitE2EYAML(1, rs.Addr(), "      - { name: limit-req, config: { rate: 1000r/s, burst: 1000, nodelay: true, policy: redis, fault_tolerant: false } }\n"))
	waitRedisLimit(t, open.addr, closed.addr)
	reachable := func() bool { return open.srv.Snapshot().Redis().Stats().Reachable }
	if !reachable() {
		t.Error("Stats.Reachable false while Redis answers")
	}
	rs.Kill()
	co, cc := dial(t, open.addr), dial(t, closed.addr)
	for i := 0; i < 3; i++ {
		resp, _ := co.do("GET", "/x")
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "" {
			t.Fatalf("fault tolerant, Redis down: %d %v", resp.StatusCode, resp.Header)
		}
		resp, body := cc.do("GET", "/x")
		if resp.StatusCode != 503 || !strings.Contains(body, "rate limit store unavailable: redis") {
			t.Fatalf("fault_tolerant: false, Redis down: %d %s", resp.StatusCode, body)
		}
	}
	if reachable() {
		t.Error("Stats.Reachable true while Redis is down")
	}
	rs.Restart()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r1, _ := co.do("GET", "/x")
		r2, _ := cc.do("GET", "/x")
		if r1.Header.Get("X-RateLimit-Limit") != "" && r2.StatusCode == 200 {
			if !reachable() {
				t.Error("Stats.Reachable false once Redis answers again")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not counting again 15s after Redis came back: %d %v, %d", r1.StatusCode, r1.Header, r2.StatusCode)
		}
	}
}

// Requests over the rate wait on the worker's timer — the worker serves
// others meanwhile — and leave in the bucket's order.
func TestLimitReqDelaysOnTheWorkersTimer(t *testing.T) {
	up := fixedUpstream(t, []byte(fixedResp))
	g := startGateway(t, up, limitE2EYAML(1, "", "      - { name: limit-req, config: { rate: 1r/s, burst: 2 } }\n"))
	const interval = time.Second
	start := time.Now()
	var mu sync.Mutex
	var done []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := dial(t, g.addr).do("GET", "/x")
			if resp.StatusCode != 200 {
				t.Errorf("a request within the burst: %d", resp.StatusCode)
			}
			mu.Lock()
			done = append(done, time.Since(start))
			mu.Unlock()
		}()
	}
	time.Sleep(100 * time.Millisecond)
	plainResp, _ := dial(t, g.addr).do("GET", "/plain")
	plainAt := time.Since(start)
	wg.Wait()
	sort.Slice(done, func(i, j int) bool { return done[i] < done[j] })
	if plainResp.StatusCode != 200 || plainAt >= done[2] {
		t.Fatalf("a request of another route waited for the delayed ones: %v, delayed done at %v", plainAt, done)
	}
	// The third request was scheduled two intervals after the first
	// arrival, which was after start: it cannot be done sooner (a timer
	// tick of slack).
	if done[2] < 2*interval-20*time.Millisecond {
		t.Fatalf("the burst was not delayed: done at %v, the last one must wait at least %v", done, 2*interval)
	}
}

// blockingUpstream holds every request until release is closed; arrived
// receives one value per request it holds. /reset requests get their
// connection closed at once, /slow ones wait until the test ends.
func blockingUpstream(t *testing.T) (addr string, arrived chan struct{}, release func()) {
	t.Helper()
	arrived = make(chan struct{}, 100)
	gate := make(chan struct{})
	end := make(chan struct{})
	t.Cleanup(func() { close(end) })
	var once sync.Once
	addr = startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/reset":
			c, _, _ := w.(http.Hijacker).Hijack()
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return
		case "/slow":
			<-end
			return
		}
		arrived <- struct{}{}
		select {
		case <-gate:
		case <-end:
		}
	})
	return addr, arrived, func() { once.Do(func() { close(gate) }) }
}

// inFlight is what a gateway's local limit-conn counts for the test
// client's IP on route api.
func (g *gateway) inFlight(t *testing.T) int64 {
	t.Helper()
	d := g.srv.Snapshot().Dicts.Dict("limits")
	v, ok := d.Get([]byte("ln|route:api/limit-conn|i127.0.0.1"), nil)
	if !ok {
		return 0
	}
	return v.Int
}

// waitZero waits until count() is 0.
func waitZero(t *testing.T, what string, count func() int64) {
	t.Helper()
	var n int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n = count(); n == 0 {
			return
		}
	}
	t.Fatalf("%s: %d slots still held 10s later: a leak", what, n)
}

// send writes a raw request on a new connection and returns it.
func send(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	return sendParts(t, addr, path)
}

// status reads the status code of the response on c.
func status(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 12)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading a status: %v", err)
	}
	n, _ := strconv.Atoi(string(buf[9:12]))
	return n
}

// Every way a request ends gives its slot back: answered, client gone
// mid-request, upstream reset, upstream timeout, refused by a later
// policy.
func TestLimitConnSlotsNeverLeak(t *testing.T) {
	for _, store := range []string{"local", "redis"} {
		t.Run(store, func(t *testing.T) {
			redisAddr, policy := "", ""
			var rs *redistest.Server
			if store == "redis" {
				rs = redistest.Start(t)
				redisAddr, policy = rs.Addr(), ", policy: redis"
			}
			addr, arrived, release := blockingUpstream(t)
			g := startGateway(t, addr, strings.Replace(limitE2EYAML(2, redisAddr, `      - { name: limit-conn, config: { max: 3`+policy+` } }
      - { name: limit-count, config: { count: 1, window: 24h, key: "arg:once", key_missing: skip } }
`), "timeouts: { read: 2s }", "timeouts: { read: 300ms }", 1))
			inFlight := func() int64 {
				if rs == nil {
					return g.inFlight(t)
				}
				out, err := rs.Do("ZCARD", "sluice:ln:{route:api/limit-conn|i127.0.0.1}")
				if err != nil {
					t.Fatal(err)
				}
				n, _ := strconv.ParseInt(out, 10, 64)
				return n
			}
			if rs != nil {
				waitConnected(t, g, inFlight)
			}

			// Three held at the upstream: a fourth is refused.
			held := []net.Conn{send(t, g.addr, "/a"), send(t, g.addr, "/b"), send(t, g.addr, "/c")}
			for range held {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					for _, c := range held {
						c.SetReadDeadline(time.Now().Add(time.Second))
						b, _ := io.ReadAll(c)
						t.Logf("response: %q", b)
					}
					t.Fatal("three requests did not reach the upstream")
				}
			}
			if n := inFlight(); n != 3 {
				t.Fatalf("%d slots with three requests in flight", n)
			}
			if st := status(t, send(t, g.addr, "/d")); st != 429 {
				t.Fatalf("a fourth concurrent request: %d", st)
			}
			// Clients vanish mid-request.
			for _, c := range held {
				c.Close()
			}
			waitZero(t, "clients gone mid-request", inFlight)
			release()

			// Upstream resets; upstream timeouts; refused by a later policy;
			// answered. Several at once on two workers.
			var wg sync.WaitGroup
			var bad atomic.Value
			for i := 0; i < 3; i++ {
				for _, tc := range []struct {
					path string
					want int
				}{{"/reset", 502}, {"/slow", 504}, {"/x?once=" + store + strconv.Itoa(i), 200}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := send(t, g.addr, tc.path)
						if st := status(t, c); st != tc.want && st != 429 && (tc.want < 500 || st < 500) {
							bad.Store(tc.path + ": " + strconv.Itoa(st))
						}
					}()
				}
			}
			wg.Wait()
			if b := bad.Load(); b != nil {
				t.Fatalf("unexpected status %v", b)
			}
			waitZero(t, "resets, timeouts and answers", inFlight)
			// Refused by limit-count after limit-conn took the slot.
			if st := status(t, send(t, g.addr, "/x?once=taken"+store)); st != 200 {
				t.Fatalf("first: %d", st)
			}
			for i := 0; i < 5; i++ {
				if st := status(t, send(t, g.addr, "/x?once=taken"+store)); st != 429 {
					t.Fatalf("refused by limit-count: %d", st)
				}
			}
			waitZero(t, "refused by a later policy", inFlight)
		})
	}
}

// waitConnected waits until a Redis-backed limit-conn really counts (its
// client connects in the background).
func waitConnected(t *testing.T, g *gateway, inFlight func() int64) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		c := send(t, g.addr, "/slow")
		seen := false
		for end := time.Now().Add(500 * time.Millisecond); !seen && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			seen = inFlight() > 0
		}
		c.Close()
		if seen {
			waitZero(t, "probe", inFlight)
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("limit-conn did not reach Redis within 15s")
		}
	}
}

// policy: redis with a standalone server decides on the worker's loop:
// the worker's own connection (named sluice-loop) carries the script, and
// a server that lost the script (SCRIPT FLUSH) gets it again with EVAL,
// the request counted all the same.
func TestLimitRedisOnTheLoop(t *testing.T) {
	for _, tc := range []struct{ name, policy string }{
		{"limit-count", "{ name: limit-count, config: { count: 100, window: 24h, policy: redis, key: header:X-Api-Key, fault_tolerant: false } }"},
		{"limit-req", "{ name: limit-req, config: { rate: 1r/m, burst: 100, nodelay: true, policy: redis, key: header:X-Api-Key, fault_tolerant: false } }"},
	} {
		t.Run(tc.name, func(t *testing.T) { testLimitRedisOnTheLoop(t, tc.policy) })
	}
}

func testLimitRedisOnTheLoop(t *testing.T, policy string) {
	rs := redistest.Start(t)
	up := fixedUpstream(t, []byte(fixedResp))
	g := startGateway(t, up, limitE2EYAML(1, rs.Addr(), "      - "+policy+"\n"))
	waitRedisLimit(t, g.addr)
	list, err := rs.Do("CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "name=sluice-loop") {
		t.Fatalf("no connection of the worker's loop in CLIENT LIST:\n%s", list)
	}
	awayFromDayEdge()
	cl := dial(t, g.addr)
	remaining := func() int {
		t.Helper()
		resp, body := cl.do("GET", "/x", "X-Api-Key: loop")
		n, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
		return n
	}
	first := remaining()
	if _, err := rs.Do("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	evals, _ := rs.Calls("eval")
	second, third := remaining(), remaining()
	if second != first-1 || third != second-1 {
		t.Fatalf("remaining %d, then after SCRIPT FLUSH %d, %d: want one less each time", first, second, third)
	}
	if n, _ := rs.Calls("eval"); n != evals+1 {
		t.Errorf("%d EVAL after SCRIPT FLUSH, want 1 (then EVALSHA again)", n-evals)
	}
}

// The loop's connection authenticates and selects the section's database
// (its counters land there); a wrong password refuses every decision
// (503 with fault_tolerant: false) without the password in the answer.
func TestLimitRedisOnTheLoopAuthAndDatabase(t *testing.T) {
	const password = "loop-s3cret-pw"
	rs := redistest.Start(t, "--requirepass", password)
	up := fixedUpstream(t, []byte(fixedResp))
	limit := "      - { name: limit-count, config: { count: 100, window: 24h, policy: redis, key: header:X-Api-Key, fault_tolerant: false } }\n"
	withRedis := func(pw string) string {
		return strings.Replace(limitE2EYAML(1, "", limit), "shared_dicts:",
			"redis: { addresses: ["+rs.Addr()+"], password: "+pw+", database: 3 }\nshared_dicts:", 1)
	}
	g := startGateway(t, up, withRedis(password))
	waitRedisLimit(t, g.addr)
	keys := func(db string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", rs.Addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "AUTH "+password+"\r\nSELECT "+db+"\r\nKEYS *\r\nQUIT\r\n")
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if k := keys("3"); !strings.Contains(k, "sluice:lc:") {
		t.Errorf("no counter in database 3:\n%s", k)
	}
	if k := keys("0"); strings.Contains(k, "sluice:lc:") {
		t.Errorf("counters in database 0:\n%s", k)
	}

	bad := startGateway(t, up, withRedis("wrong-pw"))
	cl := dial(t, bad.addr)
	for range 3 {
		resp, body := cl.do("GET", "/x", "X-Api-Key: a")
		if resp.StatusCode != 503 || !strings.Contains(body, "redis unreachable") || strings.Contains(body, "wrong-pw") {
			t.Fatalf("wrong password: %d %s", resp.StatusCode, body)
		}
	}
}

// A Redis that holds every command (CLIENT PAUSE) past read_timeout: each
// decision fails within about the timeout (503 with fault_tolerant:
// false), none hangs, and the limit counts again once Redis answers.
func TestLimitRedisOnTheLoopPaused(t *testing.T) {
	rs := redistest.Start(t)
	up := fixedUpstream(t, []byte(fixedResp))
	yml := strings.Replace(limitE2EYAML(1, rs.Addr(), "      - { name: limit-count, config: { count: 1000, window: 24h, policy: redis, key: header:X-Api-Key, fault_tolerant: false } }\n"),
		"read_timeout: 500ms", "read_timeout: 100ms", 1)
	g := startGateway(t, up, yml)
	waitRedisLimit(t, g.addr)
	rs.Pause(1500 * time.Millisecond)
	cl := dial(t, g.addr)
	var timedOut int
	for range 5 {
		start := time.Now()
		resp, body := cl.do("GET", "/x", "X-Api-Key: p")
		if took := time.Since(start); took > 1200*time.Millisecond {
			t.Errorf("a decision took %v with read_timeout 100ms", took)
		}
		if resp.StatusCode != 503 {
			t.Fatalf("Redis paused: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(body, "redis timed out") {
			timedOut++
		}
	}
	if timedOut == 0 {
		t.Error("no answer said Redis timed out")
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, _ := cl.do("GET", "/x", "X-Api-Key: p")
		if resp.StatusCode == 200 && resp.Header.Get("X-RateLimit-Limit") != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not counting 15s after the pause: %d", resp.StatusCode)
		}
	}
}

// A limit-conn slot taken in Redis for a request whose client left while
// the acquisition was held up (Redis paused): the answer comes after the
// request ended, and the worker gives the slot back then, rather than
// leaving it to its lease (slot_ttl).
func TestLimitConnRedisOrphanGivesBack(t *testing.T) {
	rs := redistest.Start(t)
	addr, _, release := blockingUpstream(t)
	defer release()
	g := startGateway(t, addr, limitE2EYAML(1, rs.Addr(), "      - { name: limit-conn, config: { max: 3, policy: redis, slot_ttl: 10m } }\n"))
	inFlight := func() int64 {
		out, err := rs.Do("ZCARD", "sluice:ln:{route:api/limit-conn|i127.0.0.1}")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(out, 10, 64)
		return n
	}
	waitConnected(t, g, inFlight)
	rs.Pause(400 * time.Millisecond)
	c := send(t, g.addr, "/orphan")
	time.Sleep(100 * time.Millisecond) // the acquisition is held by the pause
	c.Close()
	// After the pause the script runs and takes the slot; its answer
	// finds the request gone and gives it back.
	time.Sleep(400 * time.Millisecond)
	waitZero(t, "a slot acquired for a client that left", inFlight)
}

// limit-conn on the loop: a server that lost the script gets it with EVAL
// once, the slot is taken and given back all the same.
func TestLimitConnRedisOnTheLoopNoScript(t *testing.T) {
	rs := redistest.Start(t)
	up := fixedUpstream(t, []byte(fixedResp))
	g := startGateway(t, up, limitE2EYAML(1, rs.Addr(), "      - { name: limit-conn, config: { max: 3, policy: redis, fault_tolerant: false } }\n"))
	cl := dial(t, g.addr)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, _ := cl.do("GET", "/x"); resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("limit-conn did not reach Redis within 15s")
		}
	}
	slots := func() int64 {
		out, _ := rs.Do("ZCARD", "sluice:ln:{route:api/limit-conn|i127.0.0.1}")
		n, _ := strconv.ParseInt(out, 10, 64)
		return n
	}
	// The warm-up's last slot goes back after its answer: counted before
	// the baseline below, its ZREM made four for three requests (a CI run).
	waitZero(t, "slots after the warm-up", slots)
	if _, err := rs.Do("SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	evals, _ := rs.Calls("eval")
	zrems, _ := rs.Calls("zrem")
	for range 3 {
		if resp, body := cl.do("GET", "/x"); resp.StatusCode != 200 {
			t.Fatalf("after SCRIPT FLUSH: %d %s", resp.StatusCode, body)
		}
	}
	if n, _ := rs.Calls("eval"); n != evals+1 {
		t.Errorf("%d EVAL after SCRIPT FLUSH, want 1", n-evals)
	}
	waitZero(t, "slots after three requests", slots)
	if n, _ := rs.Calls("zrem"); n != zrems+3 {
		t.Errorf("%d ZREM for three requests", n-zrems)
	}
}

// TestLimitTemplateKeyValuesCannotCollide is the regression test of the
// limit keys' collision: a template's values were joined as they were, so
// with key "{http_x_a}:{http_x_b}" a client sending X-A: x and X-B: :y
// counted against the counter of the client sending X-A: x: and X-B: y
// (both "x::y"), and could spend that client's budget. Each pair counts
// apart, in the shared dict and in Redis (on the worker's loop, and
// leased), for limit-count, limit-req and limit-conn; a template whose
// text is empty still has no value (counted by client IP).
func TestLimitTemplateKeyValuesCannotCollide(t *testing.T) {
	cases := []struct {
		name, key     string
		first, second []string // header lines, or a query ("?a=1")
		counter       string   // the first's key, when pinned: readable in Redis
	}{
		{"a header holding the literal", "{http_x_a}:{http_x_b}", []string{"X-A: x:", "X-B: y"}, []string{"X-A: x", "X-B: :y"}, "t2,1,|x::y"},
		{"an argument holding the literal", "{arg_a}:{arg_b}", []string{"?a=x:&b=y"}, []string{"?a=x&b=:y"}, ""},
		{"variables side by side", "{arg_a}{arg_b}", []string{"?a=xy&b="}, []string{"?a=x&b=y"}, ""},
		{"a value like the key's shape", "{http_x_a}", []string{"X-A: 1,|x"}, []string{"X-A: x"}, ""},
		{"an empty text: no value, counted by IP", "{http_x_a}{http_x_b}", []string{"X-A:", "X-B:"}, []string{"X-A: ab", "X-B:"}, ""},
	}
	rs := redistest.Start(t)
	group := 0
	for _, store := range []string{"local", "redis", "redis-lease"} {
		for _, policy := range []string{"limit-count, config: { count: 1, window: 24h", "limit-req, config: { rate: 1r/m, burst: 0, nodelay: true", "limit-conn, config: { max: 1"} {
			name, _, _ := strings.Cut(policy, ",")
			if store == "redis-lease" && name != "limit-count" {
				continue
			}
			for _, tc := range cases {
				group++ // Redis outlives a subtest: each one counts apart
				t.Run(store+"/"+name+"/"+tc.name, func(t *testing.T) {
					redisAddr, tolerant := "", ""
					if store != "local" {
						redisAddr, tolerant = rs.Addr(), "fault_tolerant: false, "
					}
					upstream, arrived, release := blockingUpstream(t)
					defer release()
					g := startGateway(t, upstream, limitE2EYAML(1, redisAddr,
						fmt.Sprintf("      - { name: %s, %spolicy: %s, group: g%d, key: %q } }\n", policy, tolerant, store, group, tc.key)))
					// Until the Redis client connects, requests are refused
					// (503); a probe has every value, apart from the cases',
					// and its upstream closes at once (502).
					for i, deadline := 0, time.Now().Add(15*time.Second); ; i++ {
						p := "probe" + strconv.Itoa(i)
						if status(t, sendParts(t, g.addr, "/reset", "X-A: "+p, "X-B: "+p, "?a="+p+"&b="+p)) != 503 {
							break
						}
						if time.Now().After(deadline) {
							t.Fatal("no request counted within 15s")
						}
						time.Sleep(20 * time.Millisecond)
					}
					// The first value's request is held at the upstream:
					// limit-conn's slot stays taken, the others' count stays.
					sendParts(t, g.addr, "/x", tc.first...)
					select {
					case <-arrived:
					case <-time.After(10 * time.Second):
						t.Fatalf("a request with %v did not reach the upstream", tc.first)
					}
					if got := status(t, sendParts(t, g.addr, "/x", tc.first...)); got != 429 {
						t.Fatalf("a second request with %v: %d, want 429", tc.first, got)
					}
					if store == "redis" && name == "limit-count" && tc.counter != "" {
						pinned := fmt.Sprintf("sluice:lc:{group:g%d|%s}:0:", group, tc.counter)
						if keys, err := rs.Do("KEYS", "sluice:lc:*"); err != nil || !strings.Contains(keys, pinned) {
							t.Fatalf("Redis keys %q (%v): none is %s…", keys, err, pinned)
						}
					}
					second := sendParts(t, g.addr, "/x", tc.second...)
					select {
					case <-arrived:
					case <-time.After(10 * time.Second):
						t.Fatalf("%v shares the counter of %v: %d", tc.second, tc.first, status(t, second))
					}
				})
			}
		}
	}
}

// sendParts sends GET path with parts (header lines, or a query "?a=1"
// added to path) on a new connection, without reading the answer.
func sendParts(t *testing.T, addr, path string, parts ...string) net.Conn {
	t.Helper()
	fields := ""
	for _, p := range parts {
		if strings.HasPrefix(p, "?") {
			path += p
		} else {
			fields += p + "\r\n"
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n"+fields+"\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}
