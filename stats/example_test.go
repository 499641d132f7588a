package stats_test

import (
	"fmt"
	"time"

	"github.com/sluice-gw/sluice/stats"
)

func Example() {
	// At startup: describe the metrics once.
	s := stats.NewSet(2)
	requests := s.Counter("sluice_requests_total", "Requests whose head was parsed.")
	conns := s.Gauge("sluice_client_connections", "Client connections open now.")
	latency := s.DurationHistogram("sluice_upstream_seconds", "Upstream response time.", []float64{0.01, 0.1, 1})
	routes := s.CounterVec("sluice_route_requests_total", "Requests by route.", "route")
	s.GrowVec(routes, 3) // a config swap assigned route indexes 0..2

	// On worker 1's event loop: its own shard, no locks, no allocation.
	sh := s.Shard(1)
	sh.AddGauge(conns, 1)
	sh.Inc(requests)
	sh.AddIndexed(routes, 2, 1)
	sh.ObserveNanos(latency, int64(40*time.Millisecond))

	// A scrape, on the admin goroutine: sum the shards.
	var snap stats.Snapshot
	var h stats.HistogramValue
	s.Snapshot(&snap)
	snap.Histogram(latency, &h)
	fmt.Println(snap.Counter(requests), snap.Gauge(conns), snap.Vec(routes))
	fmt.Println(h.Bounds, h.Buckets, h.Count, h.Sum)
	// Output:
	// 1 1 [0 0 1]
	// [0.01 0.1 1] [0 1 1] 1 0.04
}
