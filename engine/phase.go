package engine

import "fmt"

// Status is what a Handler tells the phase runner.
type Status uint8

// The rules are the same in every phase (see exchange.go):
//   - Continue: the next handler runs.
//   - Done: the handler answered (Ctx.Respond or RespondError). In the
//     request phases the rest of them is skipped; in header_filter the
//     upstream response is dropped and the handlers after this one filter
//     the answer instead. Done without an answer is a 500.
//   - Suspend: the handler called Ctx.Suspend (or Offload, or ReadBody) and
//     the request waits; Resume brings it back. Suspend without Suspend() is
//     a 500, and so is Suspend() followed by another status.
//   - Error: a 500 when no response byte was sent yet, a close after.
const (
	// Continue runs the next handler.
	Continue Status = iota
	// Done means the handler made the response (Ctx.Respond).
	Done
	// Suspend means the handler started work off the loop and will resume
	// the request with Resumer.Resume.
	Suspend
	// Error aborts the request: 500, or a close once the head was sent.
	Error
)

var statusNames = [...]string{"Continue", "Done", "Suspend", "Error"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status?"
}

// Handler is one step of a phase. It runs on the worker's event loop and
// must not block.
type Handler func(*Ctx) Status

// Phase names the points of a request where policies run, in order.
type Phase uint8

const (
	// PhaseRewrite edits the request before access checks (path, headers,
	// request id).
	PhaseRewrite Phase = iota
	// PhaseAccess authenticates, authorizes and limits; may answer.
	PhaseAccess
	// PhaseContent may produce the response instead of the upstream (a
	// cache hit, a mock, an aggregation); when every handler continues, the
	// request is proxied.
	PhaseContent
	// PhaseHeaderFilter sees the response head before it is sent: the
	// upstream's, or one the gateway made (Ctx.IsLocal). Handlers may edit
	// it, ask for the whole body (BufferResponse) or answer instead. They
	// must not suspend.
	PhaseHeaderFilter
	// PhaseBodyFilter sees the response body in chunks (Ctx.BodyChunk,
	// Ctx.BodyEnd) and may replace each; with BufferResponse, once, whole.
	// Handlers must not suspend.
	PhaseBodyFilter
	// PhaseLog runs after the response is complete (or the client is gone).
	// Handlers here must not suspend or write.
	PhaseLog
	numPhases
)

var phaseNames = [numPhases]string{"rewrite", "access", "content", "header_filter", "body_filter", "log"}

func (p Phase) String() string {
	if p < numPhases {
		return phaseNames[p]
	}
	return "phase?"
}

// Policy is a configured instance of a policy, built by its factory from a
// route's (or the global) config. Install adds its handlers to a chain; it
// is called once per route per config version (a global policy is built
// once per version and installed on every route).
type Policy interface {
	// Priority orders policies within a phase: higher runs first.
	Priority() int
	// Install adds the policy's handlers to the phases it needs and takes
	// the private per-request keys it uses (NewPrivateKey, PrivateInt).
	Install(c *ChainBuilder) error
}

// Cleaner is a Policy holding resources (goroutines, connections, files):
// Cleanup runs once, off the loops, when the config version that built it
// has retired — a newer one is in force and no request runs on it.
type Cleaner interface {
	Cleanup()
}

// Terminator is a Policy that answers every request of its route itself
// (a mock, a redirect, an aggregation): such a route needs no upstream.
type Terminator interface {
	Terminates() bool
}

// ChainBuilder collects handlers for one route while its policies install
// themselves; build flattens them into one array per phase.
type ChainBuilder struct {
	entries     [numPhases][]chainEntry
	prio        int
	seq         int
	owner       int // the policy being installed: its index in install order
	privateVals int32
	privateInts int32
	// consumer: the chain is a consumer's (consumer.go), whose private
	// keys live after those of whatever route the request is on.
	consumer bool
}

type chainEntry struct {
	prio, seq int
	owner     int
	h         Handler
}

// Add appends h to phase p at the priority of the policy being installed.
func (b *ChainBuilder) Add(p Phase, h Handler) {
	b.seq++
	b.entries[p] = append(b.entries[p], chainEntry{prio: b.prio, seq: b.seq, owner: b.owner, h: h})
}

// policyTerminates reports whether pol answers requests itself
// (Terminator). A policy that panics there fails the compile as one that
// panics in Install does; the stack goes to logf.
func policyTerminates(pol Policy, logf func(format string, args ...any)) (t bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("policy panicked in Terminates: %v", r)
			logf("%v\n%s", err, panicStack())
		}
	}()
	tp, ok := pol.(Terminator)
	return ok && tp.Terminates(), nil
}

// install lets pol add its handlers, stamped with its priority and its
// place among the chain's policies (the next after the last installed).
// A policy that panics in Priority or Install fails the compile with the
// panic as its error (as its factory's panic does, compilation.build); the
// stack goes to logf.
func (b *ChainBuilder) install(pol Policy, logf func(format string, args ...any)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("policy panicked while installing its handlers: %v", r)
			logf("%v\n%s", err, panicStack())
		}
	}()
	b.prio = pol.Priority()
	err = pol.Install(b)
	b.owner++
	return err
}

// chain is a route's compiled phases: flat arrays of handlers, like nginx's
// phase engine, walked with a resumable index.
type chain [numPhases][]Handler

// chainMeta says, for each handler of a chain, its priority and which of
// the chain's policies installed it: what merging a consumer's policies
// into the chain needs (consumer.go).
type chainMeta [numPhases][]handlerMeta

type handlerMeta struct {
	prio  int32
	owner uint16
}

// maxChainPolicies bounds the policies of one chain (globals plus the
// route's, or a consumer's): a handler's owner is a uint16 and a
// consumer's overrides are a bit set of them.
const maxChainPolicies = 64

func (b *ChainBuilder) build() chain {
	c, _ := b.buildWithMeta()
	return c
}

func (b *ChainBuilder) buildWithMeta() (chain, chainMeta) {
	var c chain
	var m chainMeta
	for p := range b.entries {
		es := b.entries[p]
		// Stable insertion sort: higher priority first, install order within a priority.
		for i := 1; i < len(es); i++ {
			for j := i; j > 0 && less(es[j], es[j-1]); j-- {
				es[j], es[j-1] = es[j-1], es[j]
			}
		}
		if len(es) > 0 {
			c[p] = make([]Handler, len(es))
			m[p] = make([]handlerMeta, len(es))
			for i, e := range es {
				c[p][i] = e.h
				m[p][i] = handlerMeta{prio: int32(e.prio), owner: uint16(e.owner)}
			}
		}
	}
	return c, m
}

func less(a, b chainEntry) bool {
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return a.seq < b.seq
}
