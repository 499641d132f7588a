package engine

import (
	"context"
	"fmt"
	"runtime"
)

// A policy handler that panics must not take the gateway down: nothing
// else recovers on an event loop, so one bad request to one route would
// end every connection of every worker (this session's fuzzing found two
// such panics in hmac-auth). call runs a handler and turns a panic into
// Error, with the panic as the request's failure reason (the access log
// and the 500's log line say which policy phase and what), and the stack
// in the operational log. The engine's own state is consistent between
// two Ctx calls, so a policy that panics between them leaves nothing half
// done but its own work; what it changed of the request stays, and the
// request ends with a 500 as for an Error.
//
// The deferred closure is open-coded and allocates nothing; it costs
// about 5 ns per handler (BenchmarkHandlerCall: 5.7 ns against a direct
// call the compiler inlined), some 30 ns for a request through six
// policies.
//
// The same holds for the policy code the engine runs outside a handler,
// each site with a guard of its own: on a loop, a peer's reply to a
// request's call (callReply) or to a gone request's, and the peer's
// protocol (peerguard.go); on goroutines, where a panic ends the process
// just as surely, an Offload's work (runOffloaded), Ctx.Go's
// (offloadPool.submit) and a mirror's exchange (worker.mirror); off the
// loops, a policy's factory, Install and Cleanup (compilation.build,
// ChainBuilder.install, cleanUp). Sub-requests' completions and Resume's
// closures run through call.
func (x *Ctx) call(h Handler) (s Status) {
	defer func() {
		if r := recover(); r != nil {
			s = x.recovered(r, "")
		}
	}()
	return h(x)
}

// callReply is call for a peer's reply to the request's call (CallPeer),
// which runs where the reply was read, outside any handler.
func (x *Ctx) callReply(done PeerReply, reply []byte, err error) (s Status) {
	defer func() {
		if r := recover(); r != nil {
			s = x.recovered(r, " (peer reply)")
		}
	}()
	return done(x, reply, err)
}

// recovered records a panic r of policy code run for the request, in the
// request's phase (site says where, when not in a handler), and returns
// Error.
func (x *Ctx) recovered(r any, site string) Status {
	x.failure = fmt.Sprintf("policy panicked in %s%s: %v", x.phase, site, r)
	if x.cc != nil {
		x.cc.w.srv.logf("%s\n%s", x.failure, panicStack())
	}
	return Error
}

// runOffloaded runs an Offload's work on its goroutine. Its panic would
// end the process: it is logged there, with that goroutine's stack, and
// becomes a continuation that fails the request as a handler's panic does
// (phase is the one that offloaded: x is not this goroutine's to read).
func runOffloaded(ctx context.Context, work func(context.Context) func(*Ctx) Status, srv *Server, phase Phase) (next func(*Ctx) Status) {
	defer func() {
		if r := recover(); r != nil {
			failure := fmt.Sprintf("policy panicked in %s (off-loop work): %v", phase, r)
			srv.logf("%s\n%s", failure, panicStack())
			next = func(x *Ctx) Status {
				x.failure = failure
				return Error
			}
		}
	}()
	return work(ctx)
}

// panicStack is the stack of the goroutine recovering a panic, for the
// operational log.
func panicStack() []byte {
	buf := make([]byte, 16<<10)
	return buf[:runtime.Stack(buf, false)]
}

// logf writes to the compiler's log, if it has one.
func (c *Compiler) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}
