package policies_test

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/redis/redistest"
)

// End-to-end tests of limit-count with policy: redis-lease on real
// gateways sharing one redis-server, and of every Redis-backed limit when
// Redis is killed under load.

// redisScriptCalls is how many scripts clients had the server run since
// its last CONFIG RESETSTAT: the round trips of the limits (the commands
// a script runs are counted apart, under their own names).
func redisScriptCalls(t *testing.T, rs *redistest.Server) int64 {
	t.Helper()
	n, err := rs.Calls("evalsha", "eval")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two gateways of two workers each, one Redis: the gateways together
// admit no more than count (leases are counted in Redis before they are
// spent) and no fewer than count - gateways × 1.5 × lease (what they may
// hold unspent); Redis sees one call per lease.
func TestLimitLeaseAcrossGateways(t *testing.T) {
	rs := redistest.Start(t)
	up := fixedUpstream(t, []byte(fixedResp))
	for _, tc := range []struct {
		name, config string
		count, lease int
		clients, per int
	}{
		// Twice as many requests as the limit: half are refused.
		{"over-the-limit", "count: 1000, window: 24h, lease: 20", 1000, 20, 8, 250},
		{"over-the-limit/sliding", "count: 1000, window: 24h, lease: 20, window_type: sliding", 1000, 20, 8, 250},
		// Every request admitted: each lease of 25 costs one call.
		{"under-the-limit", "count: 1000000, window: 24h, lease: 25", 1000000, 25, 8, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := limitE2EYAML(2, rs.Addr(), "      - { name: limit-count, config: { "+tc.config+", policy: redis-lease, key: header:X-Api-Key } }\n")
			g1, g2 := startGateway(t, up, yml), startGateway(t, up, yml)
			waitRedisLimit(t, g1.addr, g2.addr)
			awayFromDayEdge()
			if _, err := rs.Do("CONFIG", "RESETSTAT"); err != nil {
				t.Fatal(err)
			}
			total := tc.clients * tc.per
			counts := hammer(t, []string{g1.addr, g2.addr}, tc.clients, tc.per, "X-Api-Key: lease-"+tc.name)
			calls := redisScriptCalls(t, rs)
			perReq := float64(calls) / float64(total)
			want := min(tc.count, total)
			low := want - 2*(tc.lease+tc.lease/2)
			t.Logf("%d requests over 2 gateways: %v; bound %d..%d; %d Redis calls, %.4f per request", total, counts, low, want, calls, perReq)
			if counts[200] > want || counts[200] < low || counts[200]+counts[429] != total {
				t.Fatalf("statuses %v; want %d..%d admitted, the rest refused", counts, low, want)
			}
			if perReq > 0.05 {
				t.Fatalf("%.4f Redis calls per request at lease %d, want at most 0.05", perReq, tc.lease)
			}
		})
	}
}

// loadRecord is one request of a load: when it ended, its status, whether
// the limit counted it (X-RateLimit-Limit) and whether it failed.
type loadRecord struct {
	end     time.Time
	status  int
	counted bool
	failed  bool
}

// load sends requests from several goroutines to one gateway until
// stopped, and keeps their records.
type load struct {
	mu   sync.Mutex
	recs []loadRecord
	wg   sync.WaitGroup
}

// startLoad starts clients goroutines sending GET /x to addr until stop
// is closed.
func startLoad(addr string, clients int, stop chan struct{}) *load {
	l := &load{}
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
			defer client.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := loadRecord{}
				resp, err := client.Get("http://" + addr + "/x")
				if err != nil {
					r.failed = true
				} else {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					r.status, r.counted = resp.StatusCode, resp.Header.Get("X-RateLimit-Limit") != ""
				}
				r.end = time.Now()
				l.mu.Lock()
				l.recs = append(l.recs, r)
				l.mu.Unlock()
				if r.failed {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	return l
}

// records returns a copy of the records so far.
func (l *load) records() []loadRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loadRecord(nil), l.recs...)
}

// lastAbnormal is the end of the last request after since that failed,
// was not a 200 or was not counted; zero when none.
func lastAbnormal(recs []loadRecord, since time.Time) time.Time {
	var last time.Time
	for _, r := range recs {
		if r.end.After(since) && (r.failed || r.status != 200 || !r.counted) && r.end.After(last) {
			last = r.end
		}
	}
	return last
}

// Redis killed while requests flow, for policy: redis and redis-lease,
// fault tolerant or not: no request hangs or fails, each gateway answers
// as configured while Redis is down (fault tolerant: 200, uncounted once
// a lease in hand is spent; not: 503), and counts again by itself soon
// after Redis is back. The time it takes is logged; the assertion is
// generous (5s), for loaded machines.
func TestLimitRedisKilledDuringLoad(t *testing.T) {
	redisOutageUnderLoad(t, func(rs *redistest.Server) (from, to time.Time) {
		rs.Kill()
		from = time.Now()
		time.Sleep(700 * time.Millisecond)
		rs.Restart()
		return from, time.Now()
	})
}

// Redis slower than read_timeout (500ms here: CLIENT PAUSE holds every
// command for 1.5s) under load: the same as when it is down, the requests
// waiting for Redis being answered at the timeout.
func TestLimitRedisSlowDuringLoad(t *testing.T) {
	redisOutageUnderLoad(t, func(rs *redistest.Server) (from, to time.Time) {
		from = time.Now()
		if _, err := rs.Do("CLIENT", "PAUSE", "1500", "ALL"); err != nil {
			t.Fatal(err)
		}
		return from.Add(600 * time.Millisecond), from.Add(1500 * time.Millisecond)
	})
}

// redisOutageUnderLoad runs gateways with limit-count on policy: redis
// and redis-lease, fault tolerant and not, under load while outage makes
// Redis fail; outage returns when the requests should see the failure
// (from) and when Redis answers again (to). It checks the answers in
// between, that no request failed, and that every gateway counts again
// within 5s of to (logging how long it took).
func redisOutageUnderLoad(t *testing.T, outage func(*redistest.Server) (from, to time.Time)) {
	rs := redistest.Start(t)
	up := fixedUpstream(t, []byte(fixedResp))
	type gw struct {
		name string
		open bool
		addr string
		load *load
	}
	var gws []*gw
	for _, policy := range []string{"redis", "redis-lease"} {
		for _, open := range []bool{true, false} {
			cfg := "count: 1000000, window: 24h, policy: " + policy
			if policy == "redis-lease" {
				cfg += ", lease: 20"
			}
			name := policy + "/fault_tolerant"
			if !open {
				cfg += ", fault_tolerant: false"
				name = policy + "/fail_closed"
			}
			g := startGateway(t, up, limitE2EYAML(2, rs.Addr(), "      - { name: limit-count, config: { "+cfg+" } }\n"))
			gws = append(gws, &gw{name: name, open: open, addr: g.addr})
		}
	}
	for _, w := range gws {
		waitRedisLimit(t, w.addr)
	}
	stop := make(chan struct{})
	for _, w := range gws {
		w.load = startLoad(w.addr, 3, stop)
	}
	time.Sleep(300 * time.Millisecond)
	from, to := outage(rs)
	// The load goes on until every gateway has answered normally (200,
	// counted) for 500ms after to, at most 15s.
	for deadline := to.Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		settled := time.Now().After(to)
		for _, w := range gws {
			recs := w.load.records()
			if len(recs) == 0 || !recs[len(recs)-1].end.After(to) || time.Since(lastAbnormal(recs, to)) < 500*time.Millisecond {
				settled = false
			}
		}
		if settled {
			break
		}
	}
	close(stop)
	for _, w := range gws {
		w.load.wg.Wait()
		recs := w.load.records()
		var during, failed, uncounted, refused int
		for _, r := range recs {
			switch {
			case r.failed:
				failed++
			case r.end.After(from) && r.end.Before(to):
				during++
				if w.open && r.status != 200 || !w.open && r.status != 200 && r.status != 503 {
					t.Errorf("%s: Redis failing: status %d", w.name, r.status)
				}
				if r.status == 503 {
					refused++
				}
				if r.status == 200 && !r.counted {
					uncounted++
				}
			}
		}
		lastBad := lastAbnormal(recs, to)
		t.Logf("%s: %d answers while Redis failed (%d let through uncounted, %d answered 503); counting again %v after Redis answered",
			w.name, during, uncounted, refused, max(lastBad.Sub(to), 0).Round(time.Millisecond))
		if failed > 0 {
			t.Errorf("%s: %d requests failed (hung or reset)", w.name, failed)
		}
		if w.open && uncounted == 0 || !w.open && refused == 0 {
			t.Errorf("%s: nothing let through uncounted or refused while Redis failed: %d uncounted, %d refused", w.name, uncounted, refused)
		}
		if time.Since(lastBad) < 500*time.Millisecond || lastBad.Sub(to) > 5*time.Second {
			t.Errorf("%s: not counting again within 5s of Redis answering (last uncounted or failed answer %v after)", w.name, lastBad.Sub(to))
		}
	}
	// The gateways still serve.
	for _, w := range gws {
		if resp, _ := dial(t, w.addr).do("GET", "/plain"); resp.StatusCode != 200 {
			t.Errorf("%s: /plain after the outage: %d", w.name, resp.StatusCode)
		}
	}
}
