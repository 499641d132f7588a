package main

import (
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/lb"
)

// startStatus serves a read-only status listener (the Admin API proper is
// not built yet): GET /upstreams is every upstream's targets with their
// health, load and counters; GET /status the engine's counters.
func startStatus(addr string, srv *engine.Server, rl *requestLogger) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /upstreams", func(w http.ResponseWriter, r *http.Request) {
		snap := srv.Snapshot()
		out := make([]lb.UpstreamStatus, 0)
		for _, name := range snap.UpstreamNames() {
			out = append(out, snap.Upstream(name).LB().Status())
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := srv.Stats()
		writeJSON(w, map[string]any{
			"config_version":    srv.Snapshot().Version,
			"in_flight":         srv.InFlight(),
			"requests":          st.Requests,
			"client_conns":      st.ClientConns,
			"upstream_dials":    st.UpstreamDials,
			"upstream_reused":   st.UpstreamReused,
			"upstream_retries":  st.UpstreamRetries,
			"handoffs":          st.Handoffs,
			"responses_5xx":     st.Responses5xxSent,
			"log_lines_dropped": rl.droppedCount(),
		})
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(l)
	return hs, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
