package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// aggregatePath is the route the aggregate scenario's peers answer by
// merging the upstream's /agg/user, /agg/orders and /agg/prefs.
const aggregatePath = "/aggregate"

// aggregateWant is the merged object both peers must answer (key order
// aside: nginx+lua's cjson does not keep it).
var aggregateWant = map[string]any{
	"user":   map[string]any{"id": 42.0, "name": "Ann", "email": "ann@example.com"},
	"plan":   "gold",
	"region": "eu-west",
	"orders": []any{
		map[string]any{"id": 1001.0, "total": 25.5, "items": 2.0},
		map[string]any{"id": 1002.0, "total": 12.0, "items": 1.0},
	},
	"open":       2.0,
	"prefs":      map[string]any{"lang": "en", "currency": "EUR"},
	"newsletter": true,
}

// runAggregate is issue 17's cell: Sluice's aggregate policy calling three
// upstream endpoints in parallel and merging their JSON, against nginx+lua
// doing it with ngx.location.capture_multi and cjson.
func (r *Runner) runAggregate(ctx context.Context) (*Cell, error) {
	conns := r.cfg.Conns[0]
	cell := &Cell{Scenario: "aggregate", Name: fmt.Sprintf("%d upstream calls merged, %d conns", aggregateCalls, conns), Conns: conns, Body: "json", Reference: "nginx+lua"}
	return r.runCheckedCell(ctx, cell, []string{kindSluiceAgg, kindNginxLuaAgg}, aggregatePath, nil, nil, r.checkAggregate)
}

// aggregateCalls is how many upstream requests one aggregated request makes.
const aggregateCalls = 3

// checkAggregate verifies that a peer answers the merged object and that
// each of its requests made exactly aggregateCalls upstream requests.
func (r *Runner) checkAggregate(p *Peer) []string {
	var problems []string
	up0, err := r.UpstreamStatus()
	if err != nil {
		return []string{err.Error()}
	}
	const n = 10
	for i := range n {
		body, _, err := httpGet(p.URL(aggregatePath), nil)
		if err != nil {
			return append(problems, fmt.Sprintf("request %d: %v", i, err))
		}
		if i > 0 {
			continue
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			problems = append(problems, fmt.Sprintf("body %q: %v", body, err))
		} else if !reflect.DeepEqual(got, aggregateWant) {
			problems = append(problems, fmt.Sprintf("merged body %s, want the fields of /agg/user, /agg/orders and /agg/prefs", body))
		}
	}
	up1, err := r.UpstreamStatus()
	if err != nil {
		return append(problems, err.Error())
	}
	if got := up1.Requests - up0.Requests - 1; got != aggregateCalls*n {
		problems = append(problems, fmt.Sprintf("the upstream served %d requests for %d aggregations, want %d", got, n, aggregateCalls*n))
	}
	return problems
}
