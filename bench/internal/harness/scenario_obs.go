package harness

import (
	"context"
	"fmt"
	"time"
)

// runObs is issue 11's first bar: the plain 13-byte proxy cell, Sluice
// with neither metrics nor an access log ("sluice") against the same
// config with the admin listener (/metrics) and a JSON access log file
// ("sluice+obs"), alternated A B A B. The difference in CPU µs per request
// is the cost of both; the bar is 3 %.
func (r *Runner) runObs(ctx context.Context) (*Cell, error) {
	conns := r.cfg.Conns[0]
	cell := &Cell{Scenario: "obs", Name: fmt.Sprintf("metrics + JSON access log against neither, %s body, %d conns", bodyLabels["13"], conns),
		Conns: conns, Body: "13", Reference: "sluice"}
	return r.runCheckedCell(ctx, cell, []string{kindSluice, kindSluiceObs}, "/", nil, nil, checkObs)
}

// checkObs verifies that the obs peer really does the work the cell
// prices, and that the plain peer does none of it: JSON lines reach the
// access log file and /metrics answers. It returns what is wrong.
func checkObs(p *Peer) []string {
	if p.AccessLog == "" {
		if p.AdminURL != "" {
			return []string{"the plain peer runs an admin listener"}
		}
		return nil
	}
	var problems []string
	// startPeer's request is already logged; the writer flushes every
	// 20 ms, so a line is there within a few of those.
	deadline := time.Now().Add(2 * time.Second)
	for lastJSONLine(p.AccessLog) == nil {
		if time.Now().After(deadline) {
			problems = append(problems, "access log "+p.AccessLog+" has no JSON line")
			break
		}
		if _, _, err := httpGet(p.URL("/"), nil); err != nil {
			problems = append(problems, fmt.Sprintf("request: %v", err))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.AdminURL == "" {
		return append(problems, "no admin listener")
	}
	body, _, err := httpGet(p.AdminURL+"/metrics", nil)
	if err != nil {
		return append(problems, fmt.Sprintf("/metrics: %v", err))
	}
	if CountSeries(body, "sluice_route_requests_total") == 0 {
		problems = append(problems, "/metrics has no sluice_route_requests_total series")
	}
	return problems
}
