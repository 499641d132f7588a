package engine

import "errors"

// Status is what a Handler tells the phase runner.
type Status uint8

const (
	// Continue runs the next handler.
	Continue Status = iota
	// Done means the handler wrote a complete response (Ctx.Respond); the
	// request skips to the log phase.
	Done
	// Suspend means the handler started work off the loop and will call
	// Resumer.Resume; the runner stops and resumes at the next handler.
	Suspend
	// Error aborts the request with a 500.
	Error
)

// Handler is one step of a phase. It runs on the worker's event loop and
// must not block.
type Handler func(*Ctx) Status

// Phase names the points of a request where policies run, in order.
type Phase uint8

const (
	// PhaseRewrite edits the request before access checks (path, headers).
	PhaseRewrite Phase = iota
	// PhaseAccess authenticates, authorizes and limits; may terminate.
	PhaseAccess
	// PhaseHeaderFilter edits the response head from the upstream before it
	// is sent to the client. Handlers here must not suspend.
	PhaseHeaderFilter
	// PhaseLog runs after the response is complete (or the client is gone).
	// Handlers here must not suspend or write.
	PhaseLog
	numPhases
)

var phaseNames = [numPhases]string{"rewrite", "access", "header_filter", "log"}

func (p Phase) String() string {
	if p < numPhases {
		return phaseNames[p]
	}
	return "phase?"
}

// Policy is a configured instance of a policy, built by its factory from a
// route's (or the global) config. Install adds its handlers to a chain; it
// is called once per route per config version.
type Policy interface {
	// Priority orders policies within a phase: higher runs first.
	Priority() int
	// Install adds the policy's handlers to the phases it needs, and
	// reserves the per-request slots it uses.
	Install(c *ChainBuilder) error
}

// ChainBuilder collects handlers for one route while its policies install
// themselves; Build flattens them into one array per phase.
type ChainBuilder struct {
	entries [numPhases][]chainEntry
	prio    int
	seq     int
	slots   int
}

// ErrNoSlot is returned by ChainBuilder.Slot when a route's policies need
// more per-request slots than a Ctx has.
var ErrNoSlot = errors.New("engine: too many policies keep per-request state on one route (8 slots)")

// Slot reserves a per-request slot of the route for the policy being
// installed: the index to use with Ctx.Slot/SetSlot/SlotInt/SetSlotInt.
func (b *ChainBuilder) Slot() (int, error) {
	if b.slots >= numSlots {
		return -1, ErrNoSlot
	}
	b.slots++
	return b.slots - 1, nil
}

type chainEntry struct {
	prio, seq int
	h         Handler
}

// Add appends h to phase p at the priority of the policy being installed.
func (b *ChainBuilder) Add(p Phase, h Handler) {
	b.seq++
	b.entries[p] = append(b.entries[p], chainEntry{prio: b.prio, seq: b.seq, h: h})
}

// install lets pol add its handlers, stamped with its priority.
func (b *ChainBuilder) install(pol Policy) error {
	b.prio = pol.Priority()
	return pol.Install(b)
}

// chain is a route's compiled phases: flat arrays of handlers, like nginx's
// phase engine, walked with a resumable index.
type chain [numPhases][]Handler

func (b *ChainBuilder) build() chain {
	var c chain
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
			for i, e := range es {
				c[p][i] = e.h
			}
		}
	}
	return c
}

func less(a, b chainEntry) bool {
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	return a.seq < b.seq
}
