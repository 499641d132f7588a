package engine_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// TestStatsCountsWithoutASnapshot: Stats, what GET /status shows, counts
// requests and 5xx answers, and reads the few counters it shows one by
// one. It took a whole metrics Snapshot (every route's vectors, a
// scrape's work) on each call: 20 GET /status a second on a gateway with
// 10,000 routes raised the p99 of the traffic more than 20 route changes
// a second did. Allocating nothing is the sign it copies no vector.
func TestStatsCountsWithoutASnapshot(t *testing.T) {
	g := startGateway(t, upstreamYAML("{listen}", routeAll, freeport.Addr(t))) // nothing listens there: 502, then 503
	for i := 0; i < 3; i++ {
		resp, err := http.Get("http://" + g.addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 500 {
			t.Fatalf("status %d, want a 5xx from a dead upstream", resp.StatusCode)
		}
	}
	// A request is counted once its answer is written, so the client can
	// read the third answer a moment before the worker counts it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		st := g.srv.Stats()
		if st.Requests == 3 && st.Responses5xxSent == 3 {
			break
		}
		if st.Requests > 3 || st.Responses5xxSent > 3 || time.Now().After(deadline) {
			t.Fatalf("requests %d, 5xx %d, want 3 and 3", st.Requests, st.Responses5xxSent)
		}
	}
	if n := testing.AllocsPerRun(50, func() { g.srv.Stats() }); n != 0 {
		t.Errorf("Stats allocates %v times a call, want 0", n)
	}
}
