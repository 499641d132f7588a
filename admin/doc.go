// Package admin is the operators' listener: net/http on its own goroutines,
// apart from the event loops and from traffic. It serves
//
//	GET /metrics    Prometheus text exposition (client_golang)
//	GET /status     the engine's counters as JSON
//	GET /status/upstreams  every upstream's targets with health and load, as JSON
//
// and the Admin API (package adminapi) joins them on the same mux
// (Server.Mux), behind the same bearer token (Options.Wrap).
//
// /metrics reads the engine's per-worker counters (package stats) at scrape
// time through a custom prometheus.Collector: the request path takes no
// lock and touches no shared cache line for metrics, and a scrape sums the
// workers' blocks without stopping them. Everything else it exposes (target
// health, shared dicts, Redis, the access log) is read from its owner's own
// status API at scrape time too.
//
// The listener refuses to listen on an address that is not loopback unless
// Options.AllowRemote is set, and then answers only loopback peers unless
// told otherwise; the command refuses a non-loopback listener without a
// bearer token.
package admin
