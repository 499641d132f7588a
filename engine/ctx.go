package engine

import (
	"strconv"

	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/router"
)

// numSlots is how many per-request values policies may keep in a Ctx.
const numSlots = 8

// Ctx is one request on a client connection. It lives as long as the
// connection and is reset between requests, so nothing in it allocates per
// request once warm. Handlers get it on the worker's loop; it is not safe
// for concurrent use, and nothing may keep a Ctx or a view into it after the
// handler returns — except through a Resumer.
type Ctx struct {
	cc   *clientConn
	gen  uint64 // bumped when the request ends; a Resumer checks it
	snap *Snapshot

	// Req is the parsed request head; its Spans index Head().
	Req  http1.Request
	head []byte

	route     *Route
	params    router.Params
	prefixLen int

	// ReqEdits are applied to the head sent upstream; RespEdits to the
	// response head sent to the client.
	ReqEdits  http1.Edits
	RespEdits http1.Edits

	resp    *http1.Response // set during the header filter phase and after
	respBuf []byte          // the response head bytes, during the header filter only

	phase     Phase
	next      int // index of the next handler in the phase
	suspended bool

	status     int   // status sent to the client (0 until a head is sent)
	bodySent   int64 // response body bytes sent to the client
	startNanos int64
	target     *Target
	failure    string // why the request failed, for the log

	reqID    [32]byte
	reqIDLen int

	slots    [numSlots]any
	intSlots [numSlots]int64
	scratch  []byte
}

// reset prepares the context for the next request on the connection.
func (x *Ctx) reset() {
	x.gen++
	x.Req.Reset()
	x.head = x.head[:0]
	x.snap = nil
	x.route = nil
	x.params = router.Params{}
	x.prefixLen = 0
	x.ReqEdits.Reset()
	x.RespEdits.Reset()
	x.resp = nil
	x.respBuf = nil
	x.phase, x.next, x.suspended = 0, 0, false
	x.status, x.bodySent = 0, 0
	x.target = nil
	x.failure = ""
	x.reqIDLen = 0
	x.slots = [numSlots]any{}
	x.intSlots = [numSlots]int64{}
}

// Head is the request head as received. The view lives until the request ends.
func (x *Ctx) Head() []byte { return x.head }

// Method is the request method.
func (x *Ctx) Method() http1.Method { return x.Req.Method }

// MethodName is the request method as sent; a view valid until the request ends.
func (x *Ctx) MethodName() []byte { return x.Req.MethodName.In(x.head) }

// Path is the request path (without the query); a view valid until the request ends.
func (x *Ctx) Path() []byte { return x.Req.Path.In(x.head) }

// Query is the query string without '?'; a view valid until the request ends.
func (x *Ctx) Query() []byte { return x.Req.Query.In(x.head) }

// Host is the Host field value; a view valid until the request ends.
func (x *Ctx) Host() []byte { return x.Req.Host.In(x.head) }

// Header returns the first request field named name (case-insensitive),
// without allocating. The view lives until the request ends.
func (x *Ctx) Header(name string) ([]byte, bool) {
	s, ok := x.Req.Field(x.head, name)
	return s.In(x.head), ok
}

// Param is a path parameter of the matched route ("/users/{id}").
func (x *Ctx) Param(name string) ([]byte, bool) { return x.params.Get(name, x.Path()) }

// ClientIP is the peer's address without the port, as text. The view lives
// as long as the connection.
func (x *Ctx) ClientIP() []byte { return x.cc.remoteIP }

// RouteName is the matched route's name ("" before routing).
func (x *Ctx) RouteName() string {
	if x.route == nil {
		return ""
	}
	return x.route.Name
}

// Now is the worker's clock in unix nanoseconds, read once per event.
func (x *Ctx) Now() int64 { return x.cc.w.now }

// RequestID is the request's id, made on first use without allocating:
// the process's random prefix, the worker, and the worker's counter
// ("k3x9q2-0-1f"), unique across restarts and gateway nodes with
// overwhelming probability. An incoming X-Request-Id is not trusted.
func (x *Ctx) RequestID() []byte {
	if x.reqIDLen == 0 {
		w := x.cc.w
		w.reqSeq++
		b := append(x.reqID[:0], w.srv.idPrefix...)
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(w.id), 36)
		b = append(b, '-')
		b = strconv.AppendUint(b, w.reqSeq, 36)
		x.reqIDLen = len(b)
	}
	return x.reqID[:x.reqIDLen]
}

// Slot returns per-request value i (0 <= i < 8), set by a policy earlier in
// the request. Slot numbers are handed out by the policy registry.
func (x *Ctx) Slot(i int) any { return x.slots[i] }

// SetSlot stores a per-request value; it is cleared when the request ends.
func (x *Ctx) SetSlot(i int, v any) { x.slots[i] = v }

// UpstreamAddr is the address of the target the request went to last
// ("" when it was not proxied).
func (x *Ctx) UpstreamAddr() string {
	if x.target == nil {
		return ""
	}
	return x.target.Addr
}

// Failure says why the request failed ("" when it did not), for logs.
func (x *Ctx) Failure() string { return x.failure }

// BodySent is the number of response-body bytes sent to the client.
func (x *Ctx) BodySent() int64 { return x.bodySent }

// StartNanos is when the request head was parsed (unix nanoseconds).
func (x *Ctx) StartNanos() int64 { return x.startNanos }

// SlotInt returns per-request number i; numbers do not box, so they cost
// no allocation.
func (x *Ctx) SlotInt(i int) int64 { return x.intSlots[i] }

// SetSlotInt stores a per-request number; it is cleared when the request ends.
func (x *Ctx) SetSlotInt(i int, v int64) { x.intSlots[i] = v }

// Scratch returns the context's reusable scratch buffer, emptied, for a
// handler to build keys or values in; it lives until the next call of
// Scratch, and ScratchDone hands back the grown buffer for reuse.
func (x *Ctx) Scratch() []byte { return x.scratch[:0] }

// ScratchDone keeps b (grown from Scratch) for the next use.
func (x *Ctx) ScratchDone(b []byte) { x.scratch = b[:0] }

// ResponseStatus is the status of the response being sent (header filter
// and log phases), or 0.
func (x *Ctx) ResponseStatus() int {
	if x.resp != nil {
		return x.resp.Status
	}
	return x.status
}

// ResponseHeader returns a field of the upstream response; only during the
// header filter phase, a view valid until the handler returns.
func (x *Ctx) ResponseHeader(name string) ([]byte, bool) {
	if x.resp == nil || x.respBuf == nil {
		return nil, false
	}
	s, ok := x.resp.Field(x.respBuf, name)
	return s.In(x.respBuf), ok
}

// Respond writes a complete local response: the status line, the given
// pre-serialized field lines (each ending in CRLF, may be empty), Content-
// Length, Connection, and body. The handler then returns Done. It is how
// policies terminate a request (mocks, 401, 429...).
func (x *Ctx) Respond(status int, fields []byte, body []byte) {
	x.cc.respondLocal(status, fields, body)
}

// RespondError writes the engine's JSON error body for status with message
// msg, as every error of the gateway does.
func (x *Ctx) RespondError(status int, msg string) {
	x.cc.respondErrorFields(status, nil, msg)
}

// RespondErrorFields is RespondError with extra pre-serialized field lines
// (each ending in CRLF), such as Retry-After.
func (x *Ctx) RespondErrorFields(status int, fields []byte, msg string) {
	x.cc.respondErrorFields(status, fields, msg)
}

// Resumer brings a suspended request back to its worker. It is a value:
// copy it into the goroutine doing the work.
type Resumer struct {
	cc  *clientConn
	x   *Ctx
	gen uint64
}

// Suspend marks the request as waiting for off-loop work. The handler must
// return Suspend right after, and the work must call Resume exactly once.
func (x *Ctx) Suspend() Resumer {
	x.suspended = true
	return Resumer{cc: x.cc, x: x, gen: x.gen}
}

// Resume continues the suspended request on its worker with the status the
// handler would have returned. Safe to call from any goroutine. If the
// client went away or the request ended meanwhile, it does nothing.
func (r Resumer) Resume(s Status) {
	cc := r.cc
	cc.w.execute(func() {
		// The context may have gone back to the worker and on to another
		// request: it must still be this connection's, at this generation.
		if cc.closed || cc.x != r.x || r.x.gen != r.gen || !r.x.suspended {
			return
		}
		r.x.suspended = false
		cc.resume(s)
	})
}

// Go runs fn on the worker's bounded pool of goroutines for off-loop work.
// It reports false, without running fn, when the pool is saturated; the
// handler should then fail the request (503) rather than queue unboundedly.
func (x *Ctx) Go(fn func()) bool { return x.cc.w.srv.offload.submit(fn) }
