package engine

import "github.com/sluice-gw/sluice/stats"

// Client connections by state, as gauges (nginx's reading/writing/waiting,
// finer): a request's stage (exchange.go) says what its connection is
// doing, and every stage move adds -1 and +1 to two of the worker's own
// gauges — two plain stores to its own block, no shared cache line. All of
// a request's moves happen on its connection's worker, so each worker's
// parts balance and their sum is the number of connections in each state.
// Connections without a request in progress (waiting for the first byte
// of the next one) are the rest of sluice_client_connections: the
// exposition computes "idle" as the difference.

// connState is a client connection's state while a request is in progress.
type connState int8

const (
	connNone      connState = -1 // no request: idle (computed at scrape)
	connReading   connState = 0  // the request head is arriving
	connPolicy    connState = 1  // policies run or wait (rewrite, access, content, suspended)
	connUpstream  connState = 2  // an upstream attempt: pick, connect, send, await the head
	connWriting   connState = 3  // the response is filtered and sent, then logged
	numConnStates           = 4
)

// ConnStateNames label sluice_client_connections_by_state, by connState;
// "idle" is the exposition's.
var ConnStateNames = [numConnStates]string{"reading", "policy", "upstream", "writing"}

var stageConnState = [numStages]connState{
	stageIdle:      connNone,
	stageHead:      connReading,
	stageRequest:   connPolicy,
	stageSuspended: connPolicy,
	stageUpstream:  connUpstream,
	stageResponse:  connWriting,
	stageDone:      connWriting,
}

// ConnStatesHelp is the help of sluice_client_connections_by_state, for an
// exposition that adds the "idle" series.
const ConnStatesHelp = "Client connections by what they do now: reading a request head, waiting for policies (suspended ones included), waiting for an upstream, writing a response, idle (no request in progress)."

func registerConnStates(s *stats.Set) (ids [numConnStates]stats.GaugeID) {
	for i, name := range ConnStateNames {
		ids[i] = s.Gauge("sluice_client_connections_by_state", ConnStatesHelp, "state", name)
	}
	return ids
}

// countStage moves the request's connection from the state of stage from
// to that of stage to. On the worker; allocation-free.
func (x *Ctx) countStage(from, to stage) {
	a, b := stageConnState[from], stageConnState[to]
	if a == b || x.cc == nil {
		return
	}
	w := x.cc.w
	g := &w.srv.metrics.connStates
	if a != connNone {
		w.m.AddGauge(g[a], -1)
	}
	if b != connNone {
		w.m.AddGauge(g[b], 1)
	}
}

// ConnStates returns the client connections by state (ConnStateNames
// order), summed over the workers; idle is the open connections that are
// in none of them. Safe from any goroutine; like every gauge sum, not one
// instant's picture.
func (s *Server) ConnStates() (states [numConnStates]int64, idle int64) {
	m := s.metrics
	open := m.set.GaugeValue(m.clientConns)
	idle = open
	for i, id := range m.connStates {
		states[i] = max(m.set.GaugeValue(id), 0)
		idle -= states[i]
	}
	return states, max(idle, 0)
}
