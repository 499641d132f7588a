package policies_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/policies"
	"github.com/sluice-gw/sluice/redis/redistest"
)

// End-to-end tests of the cache on real loopback gateways: L2 shared by
// two gateways through a real redis-server, Redis down or paused, the
// stampede bar, bodies of unknown length.

// cacheE2EYAML is a gateway config with workers, an optional redis
// section and a cache policy config on route "api".
func cacheE2EYAML(workers int, redisAddr, cacheCfg string) string {
	y := "listen: {listen}\nworkers: " + fmt.Sprint(workers) + "\nshared_dicts: { cache: 8MiB }\n"
	if redisAddr != "" {
		y += "redis: { addresses: [" + redisAddr + "], read_timeout: 300ms }\n"
	}
	return y + `upstreams:
  - name: up
    targets: [{ addr: "{upstream}" }]
routes:
  - name: api
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: cache
        config: ` + cacheCfg + "\n"
}

func e2eGet(t testing.TB, addr, target string) (*http.Response, string) {
	t.Helper()
	cl := dial(t, addr)
	return cl.do("GET", target)
}

func TestCacheL2SharedByTwoGateways(t *testing.T) {
	rs := redistest.Start(t)
	var n atomic.Int64
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n":%d}`, n.Add(1))
	})
	cfg := cacheE2EYAML(2, rs.Addr(), `{ l2: redis, ttl: 1m }`)
	a := startGateway(t, up, cfg)
	b := startGateway(t, up, cfg)
	resp, body := e2eGet(t, a.addr, "/shared?x=1")
	if resp.Header.Get("X-Cache-Status") != "MISS" {
		t.Fatalf("first: %v", resp.Header)
	}
	// The L2 fill is written off the loop: wait for it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		keys, _ := rs.Do("KEYS", "sluice:cache:*")
		if keys != "" && keys != "[]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the L2 entry was never written")
		}
	}
	resp, body2 := e2eGet(t, b.addr, "/shared?x=1")
	if resp.Header.Get("X-Cache-Status") != "HIT" || resp.Header.Get("X-Cache-Level") != "L2" || body2 != body {
		t.Fatalf("second gateway: %v %q, want an L2 hit of %q", resp.Header, body2, body)
	}
	resp, _ = e2eGet(t, b.addr, "/shared?x=1")
	if resp.Header.Get("X-Cache-Level") != "L1" {
		t.Fatalf("an L2 hit did not fill L1: %v", resp.Header)
	}
	if n.Load() != 1 {
		t.Fatalf("upstream saw %d requests, want 1", n.Load())
	}
}

func TestCacheRedisDownIsAFastMiss(t *testing.T) {
	for _, mode := range []string{"stopped", "paused"} {
		t.Run(mode, func(t *testing.T) {
			rs := redistest.Start(t)
			up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"ok":true}`))
			})
			g := startGateway(t, up, cacheE2EYAML(1, rs.Addr(), `{ l2: redis, l2_timeout: 50ms }`))
			e2eGet(t, g.addr, "/warm") // the client is connected
			if mode == "stopped" {
				rs.Kill()
			} else {
				go rs.Pause(3 * time.Second)
				time.Sleep(100 * time.Millisecond)
			}
			for i := range 3 {
				start := time.Now()
				resp, body := e2eGet(t, g.addr, fmt.Sprintf("/down%d", i))
				took := time.Since(start)
				if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Header.Get("X-Cache-Status") != "MISS" {
					t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
				}
				if took > 400*time.Millisecond {
					t.Fatalf("a miss with Redis %s took %v", mode, took)
				}
				t.Logf("miss with Redis %s: %v", mode, took)
			}
			// L1 still serves.
			resp, _ := e2eGet(t, g.addr, "/down0")
			if resp.Header.Get("X-Cache-Status") != "HIT" {
				t.Fatalf("L1 with Redis %s: %v", mode, resp.Header)
			}
			if s := policies.CacheStats("route:api/cache"); s["l2_errors"] == 0 {
				t.Fatalf("Redis failures not counted: %v", s)
			}
		})
	}
}

// TestCacheStampede is the bar: 1,000 concurrent requests on a
// cold key send exactly one request upstream.
func TestCacheStampede(t *testing.T) {
	rs := redistest.Start(t)
	var n atomic.Int64
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"cold":true}`))
	})
	g := startGateway(t, up, cacheE2EYAML(4, rs.Addr(), `{ l2: redis, lock_timeout: 4s }`))
	const clients = 1000
	var wg sync.WaitGroup
	var ok, hits atomic.Int64
	errs := make(chan error, clients)
	start := make(chan struct{})
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			<-start
			c.SetDeadline(time.Now().Add(15 * time.Second))
			if _, err := io.WriteString(c, "GET /cold HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				errs <- err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == 200 && string(b) == `{"cold":true}` {
				ok.Add(1)
			}
			if resp.Header.Get("X-Cache-Status") == "HIT" {
				hits.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d/%d answered 200, %d from the cache, %d upstream requests", ok.Load(), clients, hits.Load(), n.Load())
	if ok.Load() != clients || n.Load() != 1 {
		t.Fatalf("%d/%d answered, %d upstream requests; want all and exactly 1", ok.Load(), clients, n.Load())
	}
}

// A body without a length (chunked) is collected as it streams: stored
// when it fits max_body, passed whole and uncached when it does not.
func TestCacheStreamedBody(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		size := 100
		if strings.HasPrefix(r.URL.Path, "/big") {
			size = 5000
		}
		w.Write([]byte(`{"pad":"`))
		w.(http.Flusher).Flush()
		w.Write([]byte(strings.Repeat("x", size)))
		w.(http.Flusher).Flush()
		w.Write([]byte(`"}`))
	})
	g := startGateway(t, up, cacheE2EYAML(1, "", `{ max_body: 1KiB }`))
	for _, tc := range []struct {
		path   string
		second string
	}{{"/small", "HIT"}, {"/big", "MISS"}} {
		resp, body := e2eGet(t, g.addr, tc.path)
		if resp.Header.Get("X-Cache-Status") != "MISS" {
			t.Fatalf("%s: %v", tc.path, resp.Header)
		}
		resp, body2 := e2eGet(t, g.addr, tc.path)
		if resp.Header.Get("X-Cache-Status") != tc.second || body2 != body || !strings.HasSuffix(body, `"}`) {
			t.Fatalf("%s again: %v, body %d bytes (first %d)", tc.path, resp.Header, len(body2), len(body))
		}
	}
}
