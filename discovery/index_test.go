package discovery_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Consul that misbehaves: it answers every query at once, never blocks,
// and its index goes 10, 5, 0, 7, 7, 7... The watch must follow Consul's
// index rules and its token bucket must bound the queries.
func TestIndexRulesAndTokenBucketAgainstAConsulThatNeverBlocks(t *testing.T) {
	var mu sync.Mutex
	var asked []string // the index of each query
	answers := []int{10, 5, 0, 7}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(asked)
		asked = append(asked, r.URL.Query().Get("index"))
		mu.Unlock()
		idx := answers[min(n, len(answers)-1)]
		w.Header().Set("X-Consul-Index", fmt.Sprint(idx))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"Key":"upstreams/test/10.0.0.%d:80","Value":null}]`, 1+n%2)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfg := parseConfig(t, addr, `consul: {address: "{consul}", rate_limit: 5}
upstreams:
  - name: test
    discovery: {type: consul_kv, key: upstreams/test}
`)
	rr := startRig(t, nil, cfg)
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	got := append([]string(nil), asked...)
	mu.Unlock()
	// 5 from the burst at once, then 5 per second: at most ~13 in 1.5s.
	if len(got) > 13 {
		t.Fatalf("%d queries in 1.5s against a Consul that never blocks; the token bucket should allow ~12", len(got))
	}
	// The first query has no index (the client omits index=0), then 10;
	// the answer 5 went backwards: 0 again (omitted); the answer 0 is never
	// used: 1; then 7 onwards.
	want := []string{"", "10", "", "1", "7", "7"}
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("query indexes %v, want them to start %v", got, want)
		}
	}
	// Every answer changed the list: the last one is applied.
	s := rr.source("consul_kv:upstreams/test")
	if s.Requests < 5 || s.Changes < 4 {
		t.Fatalf("status %+v", s)
	}
}
