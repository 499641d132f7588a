package engine

import (
	"github.com/sluice-gw/sluice/stats"
)

// The engine's counters are per worker (package stats): each worker writes
// its own padded block without a lock or a shared cache line, and a read
// (/status, a Prometheus scrape) sums the blocks. Off-loop writers use the
// Set's shared block.

// engineMetrics holds the ids of the engine's metrics in its Set.
type engineMetrics struct {
	set *stats.Set

	requests        stats.CounterID
	responses       stats.VecID // by status class: 1xx..5xx at 0..4
	upstreamDials   stats.CounterID
	upstreamReused  stats.CounterID
	upstreamRetries stats.CounterID
	handoffs        stats.CounterID
	clientConns     stats.GaugeID
	requestDuration stats.HistogramID
}

// durationBounds are the request-duration histogram's bucket bounds in
// seconds (Prometheus' defaults, from 1 ms).
var durationBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newEngineMetrics(workers int) *engineMetrics {
	s := stats.NewSet(workers)
	return &engineMetrics{
		set:             s,
		requests:        s.Counter("sluice_requests_total", "Requests whose head was parsed."),
		responses:       s.CounterVec("sluice_responses_total", "Responses sent, by status class.", "class", "1xx", "2xx", "3xx", "4xx", "5xx"),
		upstreamDials:   s.Counter("sluice_upstream_connections_opened_total", "Upstream connections dialed."),
		upstreamReused:  s.Counter("sluice_upstream_connections_reused_total", "Requests sent on a pooled upstream connection."),
		upstreamRetries: s.Counter("sluice_upstream_retries_total", "Requests sent again to another target."),
		handoffs:        s.Counter("sluice_handoffs_total", "Body streams handed to a goroutine (slow peers)."),
		clientConns:     s.Gauge("sluice_client_connections", "Client connections open now."),
		requestDuration: s.DurationHistogram("sluice_request_duration_seconds", "Time from the request head to the end of the response.", durationBounds),
	}
}

// Stats are the engine's counters summed over the workers at one read.
type Stats struct {
	Requests         uint64 // requests whose head was parsed
	UpstreamDials    uint64 // upstream connections dialed
	UpstreamReused   uint64 // requests sent on a pooled connection
	UpstreamRetries  uint64 // requests sent again to another target
	ClientConns      int64  // client connections open now
	Handoffs         uint64 // body streams handed to a goroutine (slow peers)
	Responses5xxSent uint64
}

// Stats sums the workers' counters. Safe from any goroutine; the sums of
// different counters are not from one instant, and never torn.
func (s *Server) Stats() Stats {
	m := s.metrics
	var sn stats.Snapshot
	m.set.Snapshot(&sn)
	st := Stats{
		Requests:        sn.Counter(m.requests),
		UpstreamDials:   sn.Counter(m.upstreamDials),
		UpstreamReused:  sn.Counter(m.upstreamReused),
		UpstreamRetries: sn.Counter(m.upstreamRetries),
		ClientConns:     sn.Gauge(m.clientConns),
		Handoffs:        sn.Counter(m.handoffs),
	}
	if v := sn.Vec(m.responses); len(v) == 5 {
		st.Responses5xxSent = v[4]
	}
	return st
}

// Metrics is the engine's metric set, for exposition (/metrics).
func (s *Server) Metrics() *stats.Set { return s.metrics.set }

// countResponse records a finished request's status and duration.
func (w *worker) countResponse(x *Ctx) {
	m := w.srv.metrics
	if st := x.status; st >= 100 && st < 600 {
		w.m.AddIndexed(m.responses, st/100-1, 1)
	}
	w.m.ObserveNanos(m.requestDuration, w.now-x.startNanos)
}
