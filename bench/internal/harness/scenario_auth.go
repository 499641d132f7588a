package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"
)

// authConsumers are the auth scenario's consumers; wrk cycles their keys.
var authConsumers = []Consumer{
	{"consumer-alpha", "bench-key-alpha-0001"}, {"consumer-bravo", "bench-key-bravo-0002"},
	{"consumer-charlie", "bench-key-charlie-0003"}, {"consumer-delta", "bench-key-delta-0004"},
	{"consumer-echo", "bench-key-echo-0005"}, {"consumer-foxtrot", "bench-key-foxtrot-0006"},
	{"consumer-golf", "bench-key-golf-0007"}, {"consumer-hotel", "bench-key-hotel-0008"},
}

// runAuth is issue 14's cell: key-auth + limit-count per consumer +
// request-id + /metrics + a JSON access log file, Sluice against nginx+lua
// doing the same.
func (r *Runner) runAuth(ctx context.Context) (*Cell, error) {
	keys := make([]string, len(authConsumers))
	for i, c := range authConsumers {
		keys[i] = c.Key
	}
	conns := r.cfg.Conns[0]
	cell := &Cell{Scenario: "auth", Name: fmt.Sprintf("key-auth + limit-count + request-id + metrics + JSON log, %s body, %d conns", bodyLabels["13"], conns),
		Conns: conns, Body: "13", Reference: "nginx+lua"}
	return r.runCheckedCell(ctx, cell, []string{kindSluiceAuth, kindNginxLuaAuth}, "/", map[string]string{"X-Api-Key": keys[0]}, keys, checkAuth)
}

// checkAuth verifies that a peer does the whole auth work, so the
// comparison is fair: 401 without a key and with an unknown one; with a key,
// the X-RateLimit-* fields, a request id echoed and seen by the upstream,
// the consumer's name seen by the upstream, a JSON access log line with
// that id and consumer, and /metrics when the peer has it. It returns what
// is missing.
func checkAuth(p *Peer) []string {
	var problems []string
	for _, h := range []map[string]string{nil, {"X-Api-Key": "bench-key-nobody-0000"}} {
		status, _, _, err := httpDo(p.URL("/"), h)
		if err != nil {
			problems = append(problems, fmt.Sprintf("request with key %q: %v", h["X-Api-Key"], err))
		} else if status != http.StatusUnauthorized {
			problems = append(problems, fmt.Sprintf("request with key %q: status %d, want 401", h["X-Api-Key"], status))
		}
	}
	c := authConsumers[1]
	_, h, err := httpGet(p.URL("/"), map[string]string{"X-Api-Key": c.Key})
	if err != nil {
		return append(problems, fmt.Sprintf("request with %s's key: %v", c.Name, err))
	}
	if h.Get("X-RateLimit-Limit") == "" || h.Get("X-RateLimit-Remaining") == "" {
		problems = append(problems, "response lacks X-RateLimit-Limit/-Remaining")
	}
	id := h.Get("X-Request-Id")
	if id == "" {
		problems = append(problems, "response lacks X-Request-Id")
	} else if seen := h.Get("X-Seen-Request-Id"); seen != id {
		problems = append(problems, fmt.Sprintf("upstream saw request id %q, the client got %q", seen, id))
	}
	if seen := h.Get("X-Seen-Consumer"); seen != c.Name {
		problems = append(problems, fmt.Sprintf("upstream saw consumer %q, want %q", seen, c.Name))
	}
	if p.MetricsURL != "" {
		if _, _, err := httpGet(p.MetricsURL, nil); err != nil {
			problems = append(problems, fmt.Sprintf("/metrics: %v", err))
		}
	}
	if p.AccessLog == "" {
		return append(problems, "no access log file")
	}
	// Both peers flush their log every 20 ms.
	var line map[string]any
	deadline := time.Now().Add(2 * time.Second)
	for {
		line = lastJSONLine(p.AccessLog)
		if line != nil && line["request_id"] == id || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case line == nil:
		problems = append(problems, "access log "+p.AccessLog+" has no JSON line")
	case line["request_id"] != id || line["consumer"] != c.Name:
		problems = append(problems, fmt.Sprintf("last access log line has request_id %v consumer %v, want %q %q", line["request_id"], line["consumer"], id, c.Name))
	}
	return problems
}

// lastJSONLine decodes the last line of a file as a JSON object; nil when
// there is none or it does not decode.
func lastJSONLine(path string) map[string]any {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	b = bytes.TrimRight(b, "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}
