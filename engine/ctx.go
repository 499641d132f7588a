package engine

import (
	"bytes"
	"context"
	"strconv"

	"github.com/sluice-gw/sluice/http1"
	"github.com/valyala/bytebufferpool"

	"github.com/sluice-gw/sluice/lb"
	"github.com/sluice-gw/sluice/pool"
	"github.com/sluice-gw/sluice/router"
)

// Ctx is one request: its exchange state (exchange.go) and the whole API
// policies use. It is pooled per worker and reset between requests, so
// nothing in it allocates per request once warm. Handlers get it on the
// worker's loop; it is not safe for concurrent use, and nothing may keep a
// Ctx or a view into it after the handler returns — off-loop work gets a
// Resumer (Suspend) or copies.
//
// Views: a method returning []byte returns a view into the request's own
// buffers. Unless its doc says otherwise, the view lives until the request
// ends; copy it to keep it longer, and never modify it.
type Ctx struct {
	cc    *clientConn
	gen   uint64 // bumped when the request ends; a Resumer checks it
	snap  *Snapshot
	stage stage

	req  http1.Request // its Spans index head
	head []byte

	route *Route
	// chain is what the request runs: its route's, or the route's merged
	// with its consumer's policies (consumer.go), in join.
	chain     *chain
	join      *consumerJoin
	params    router.Params
	prefixLen int
	// hostByPolicy: a policy set the upstream Host (SetUpstreamHost), which
	// the route's host: upstream setting then leaves alone.
	hostByPolicy bool
	upstream     *Upstream // chosen by a policy (SetUpstream); nil: the route's

	// reqEdits are applied to the head sent upstream; respEdits to the
	// response head sent to the client.
	reqEdits  http1.Edits
	respEdits http1.Edits

	resp    *http1.Response // the response being filtered (upstream's or localResp)
	respBuf []byte          // its head bytes, while it is filtered

	phase     Phase
	next      int  // index of the next handler in the phase
	filtering bool // header filters are running

	// Suspension (suspend.go).
	suspended   bool
	readingBody bool // the suspension is ReadBody's
	suspendSeq  uint64
	cancel      context.CancelFunc

	// A response made by the gateway (exchange.go).
	local       bool
	localDirty  bool // localStatus/Fields/Body changed since localHead was built
	localStatus int
	localFields []byte
	localBody   []byte
	localHead   []byte
	localResp   http1.Response
	errBody     []byte

	// Request body held for policies (body.go); body is bodyBuf's bytes.
	bodyBuf      *bytebufferpool.ByteBuffer
	body         []byte
	bodyBuffered bool
	bodyReplaced bool
	bodyMax      int64

	// Response body filtering (bodyfilter.go).
	chunk       []byte
	chunkEnd    bool
	bufferMax   int64 // BufferResponse's cap; 0: stream
	respBodyBuf *bytebufferpool.ByteBuffer
	respBody    []byte // the buffered response body (respBodyBuf's bytes)
	filterMode  filterMode
	filterOn    bool // FilterBody: this response's body goes through body_filter
	replacing   bool // ReplaceResponseBody
	replaceBody []byte

	status     int   // status sent to the client (0 until a head is sent)
	bodySent   int64 // response body bytes sent to the client
	startNanos int64
	target     *Target
	failure    string // why the request failed, for the log

	reqID    [40]byte
	reqIDLen int

	vals []any   // per-request values (values.go), sized by the route
	ints []int64 // per-request numbers
	// consumerVals and consumerInts are where a joined consumer's private
	// keys start in vals and ints: after the route's (values.go).
	consumerVals, consumerInts int32
	scratch                    []byte
}

// reset prepares the context for the next request on the connection.
func (x *Ctx) reset() {
	x.gen++
	if x.stage != stageIdle {
		x.to(stageIdle)
	}
	x.req.Reset()
	x.head = x.head[:0]
	x.snap = nil
	x.route = nil
	x.chain = nil
	if x.join != nil && x.join.policies != nil {
		x.join.policies = nil
		x.join.merged = chain{} // holds the snapshot's handlers
	}
	x.consumerVals, x.consumerInts = 0, 0
	x.params = router.Params{}
	x.prefixLen = 0
	x.hostByPolicy = false
	x.upstream = nil
	x.reqEdits.Reset()
	x.respEdits.Reset()
	x.resp = nil
	x.respBuf = nil
	x.phase, x.next, x.filtering = 0, 0, false
	x.suspended, x.readingBody = false, false
	x.cancel = nil
	x.local, x.localDirty, x.localStatus, x.localBody = false, false, 0, nil
	x.bodyBuffered, x.bodyReplaced, x.bodyMax = false, false, 0
	x.body = releaseBuffer(&x.bodyBuf, x.body)
	x.chunk, x.chunkEnd, x.bufferMax, x.filterMode = nil, false, 0, filterNone
	x.filterOn, x.replacing, x.replaceBody = false, false, nil
	x.respBody = releaseBuffer(&x.respBodyBuf, x.respBody)
	x.status, x.bodySent = 0, 0
	x.target = nil
	x.failure = ""
	x.reqIDLen = 0
	clear(x.vals)
	x.vals = x.vals[:0]
	clear(x.ints)
	x.ints = x.ints[:0]
}

// takeBuffer gives a body its pooled buffer on first use.
func takeBuffer(buf **bytebufferpool.ByteBuffer) []byte {
	if *buf == nil {
		*buf = pool.GetBuffer()
	}
	return (*buf).B[:0]
}

// releaseBuffer returns a body's buffer (with the bytes grown into it) to
// the pool when the request ends.
func releaseBuffer(buf **bytebufferpool.ByteBuffer, b []byte) []byte {
	if *buf != nil {
		(*buf).B = b[:0]
		pool.PutBuffer(*buf)
		*buf = nil
	}
	return nil
}

// --- The request as received ---

// Head is the request head as received.
func (x *Ctx) Head() []byte { return x.head }

// Method is the request method.
func (x *Ctx) Method() http1.Method { return x.req.Method }

// MethodName is the request method as sent.
func (x *Ctx) MethodName() []byte { return x.req.MethodName.In(x.head) }

// Target is the request-target as sent (path and query).
func (x *Ctx) Target() []byte { return x.req.Target.In(x.head) }

// Path is the request path (without the query).
func (x *Ctx) Path() []byte { return x.req.Path.In(x.head) }

// Query is the query string without '?'.
func (x *Ctx) Query() []byte { return x.req.Query.In(x.head) }

// Host is the Host field value.
func (x *Ctx) Host() []byte { return x.req.Host.In(x.head) }

// ProtoMinor is the minor HTTP version of the request (0 or 1).
func (x *Ctx) ProtoMinor() int { return int(x.req.Minor) }

// ContentLength is the request's Content-Length, -1 when absent (chunked
// or no body).
func (x *Ctx) ContentLength() int64 { return x.req.ContentLength }

// HasBody says whether the request has a body (a positive length or chunked).
func (x *Ctx) HasBody() bool { return x.req.Chunked || x.req.ContentLength > 0 }

// Header returns the first request field named name (case-insensitive),
// without allocating.
func (x *Ctx) Header(name string) ([]byte, bool) {
	s, ok := x.req.Field(x.head, name)
	return s.In(x.head), ok
}

// VisitHeaders calls fn with each request field in order until fn returns
// false. It does not allocate.
func (x *Ctx) VisitHeaders(fn func(name, value []byte) bool) {
	for _, f := range x.req.Fields {
		if !fn(f.Name.In(x.head), f.Value.In(x.head)) {
			return
		}
	}
}

// Arg returns the raw (still percent-encoded) value of the first query
// argument called name; an argument without '=' has an empty value. It
// does not allocate; AppendUnescaped decodes.
func (x *Ctx) Arg(name string) ([]byte, bool) {
	v := lb.QueryArg(x.req.Target.In(x.head), name)
	return v, v != nil
}

// VisitArgs calls fn with each query argument, raw, in order, until fn
// returns false. It does not allocate.
func (x *Ctx) VisitArgs(fn func(name, value []byte) bool) {
	rest := x.req.Query.In(x.head)
	for len(rest) > 0 {
		arg := rest
		if i := bytes.IndexByte(rest, '&'); i >= 0 {
			arg, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(arg) == 0 {
			continue
		}
		name, value := arg, arg[len(arg):]
		if i := bytes.IndexByte(arg, '='); i >= 0 {
			name, value = arg[:i], arg[i+1:]
		}
		if !fn(name, value) {
			return
		}
	}
}

// Cookie returns the value of the first cookie called name in the Cookie
// fields (quotes removed), without allocating.
func (x *Ctx) Cookie(name string) ([]byte, bool) {
	for _, f := range x.req.Fields {
		if !equalFoldASCII(f.Name.In(x.head), "cookie") {
			continue
		}
		if v := lb.CookieValue(f.Value.In(x.head), name); v != nil {
			return v, true
		}
	}
	return nil, false
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

// Snapshot is the config version the request runs on.
func (x *Ctx) Snapshot() *Snapshot { return x.snap }

// Now is the worker's clock in unix nanoseconds, read once per event.
func (x *Ctx) Now() int64 { return x.cc.w.now }

// WorkerID is the index of the worker running the request: per-worker
// state of a policy (a counter shard, a generator) indexes by it.
func (x *Ctx) WorkerID() int { return x.cc.w.id }

// RequestID is the request's id: one set by SetRequestID (the request-id
// policy), else one made on first use without allocating — the process's
// random prefix, the worker and the worker's counter ("k3x9q2-0-1f"),
// unique across restarts and gateway nodes with overwhelming probability.
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

// SetRequestID makes id (at most 40 bytes of visible ASCII) the request's
// id, in error bodies and the log. It reports false, changing nothing,
// for an id it refuses.
func (x *Ctx) SetRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > len(x.reqID) {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	x.reqIDLen = copy(x.reqID[:], id)
	return true
}

// --- The request sent upstream ---

// SetRequestHeader replaces every upstream request field named name (or
// adds it). Names and values are copied; an invalid one is refused (see
// UpstreamEditError) and never sent.
func (x *Ctx) SetRequestHeader(name, value []byte) { x.reqEdits.Set(name, value) }

// AddRequestHeader adds a field to the upstream request.
func (x *Ctx) AddRequestHeader(name, value []byte) { x.reqEdits.Add(name, value) }

// RemoveRequestHeader drops every upstream request field named name.
func (x *Ctx) RemoveRequestHeader(name []byte) { x.reqEdits.Remove(name) }

// SetRequestHeaderString is SetRequestHeader with strings (no allocation).
func (x *Ctx) SetRequestHeaderString(name, value string) { x.reqEdits.SetString(name, value) }

// SetUpstreamMethod sets the method sent upstream.
func (x *Ctx) SetUpstreamMethod(method []byte) { x.reqEdits.SetMethod(method) }

// SetUpstreamTarget sets the path and query sent upstream ("/v2/users?id=1").
func (x *Ctx) SetUpstreamTarget(target []byte) { x.reqEdits.SetTarget(target) }

// SetUpstreamHost sets the Host sent upstream (uri-host [":" port]),
// instead of the route's host setting. The bytes are copied.
func (x *Ctx) SetUpstreamHost(host []byte) { x.reqEdits.SetHost(host) }

// UpstreamEditError is the first upstream-request edit refused (an invalid
// name, value, method or target), or nil.
func (x *Ctx) UpstreamEditError() error { return x.reqEdits.Err() }

// SetUpstream sends this request to the upstream called name of the
// request's config instead of the route's (traffic split, canary). It
// reports false when there is no such upstream.
func (x *Ctx) SetUpstream(name string) bool {
	u := x.snap.upstreams[name]
	if u == nil {
		return false
	}
	x.upstream = u
	return true
}

// UpstreamName is the upstream the request goes to ("" when none).
func (x *Ctx) UpstreamName() string {
	if u := x.upstreamOf(); u != nil {
		return u.Name
	}
	return ""
}

func (x *Ctx) upstreamOf() *Upstream {
	if x.upstream != nil {
		return x.upstream
	}
	if x.route != nil {
		return x.route.upstream
	}
	return nil
}

// --- The response ---

// IsLocal says whether the response being filtered was made by the gateway
// (an error, a policy's answer) rather than received from the upstream.
func (x *Ctx) IsLocal() bool { return x.local }

// ResponseStatus is the status of the response being filtered or sent
// (with SetResponseStatus applied), or 0 before there is one.
func (x *Ctx) ResponseStatus() int {
	if x.status != 0 {
		return x.status
	}
	if st := x.respEdits.Status(); st != 0 {
		return st
	}
	if x.resp != nil {
		return x.resp.Status
	}
	return 0
}

// ResponseHeader returns a field of the response being filtered as it was
// made (edits not applied); only during header_filter, a view valid until
// the handler returns.
func (x *Ctx) ResponseHeader(name string) ([]byte, bool) {
	if x.resp == nil || x.respBuf == nil {
		return nil, false
	}
	s, ok := x.resp.Field(x.respBuf, name)
	return s.In(x.respBuf), ok
}

// VisitResponseHeaders calls fn with each field of the response being
// filtered (edits not applied) until fn returns false; header_filter only.
func (x *Ctx) VisitResponseHeaders(fn func(name, value []byte) bool) {
	if x.resp == nil || x.respBuf == nil {
		return
	}
	for _, f := range x.resp.Fields {
		if !fn(f.Name.In(x.respBuf), f.Value.In(x.respBuf)) {
			return
		}
	}
}

// SetResponseStatus changes the status sent to the client (100..599);
// header_filter only.
func (x *Ctx) SetResponseStatus(status int) { x.respEdits.SetStatus(status) }

// SetResponseHeader replaces every response field named name (or adds it).
func (x *Ctx) SetResponseHeader(name, value []byte) { x.respEdits.Set(name, value) }

// SetResponseHeaderString is SetResponseHeader with strings.
func (x *Ctx) SetResponseHeaderString(name, value string) { x.respEdits.SetString(name, value) }

// AddResponseHeader adds a response field.
func (x *Ctx) AddResponseHeader(name, value []byte) { x.respEdits.Add(name, value) }

// RemoveResponseHeader drops every response field named name.
func (x *Ctx) RemoveResponseHeader(name []byte) { x.respEdits.Remove(name) }

// Respond answers the request from the gateway: status, pre-serialized
// field lines (each ending in CRLF; may be empty) and body; the engine
// adds Content-Length and Connection. The handler then returns Done. In
// the request phases the answer goes through header_filter and
// body_filter and is sent; in header_filter it replaces the response and
// the handlers after the current one filter it. fields are copied; body
// is not and must stay valid until the request ends (a config's bytes, or
// a buffer of the Ctx).
func (x *Ctx) Respond(status int, fields []byte, body []byte) {
	x.cc.respondLocal(status, fields, body)
}

// RespondError answers with the gateway's JSON error body for status and
// msg, as every error of the gateway does.
func (x *Ctx) RespondError(status int, msg string) {
	x.cc.respondErrorFields(status, nil, msg)
}

// RespondErrorFields is RespondError with extra pre-serialized field lines
// (each ending in CRLF), such as Retry-After.
func (x *Ctx) RespondErrorFields(status int, fields []byte, msg string) {
	x.cc.respondErrorFields(status, fields, msg)
}

// --- What happened, for logs and metrics ---

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

// Scratch returns the context's reusable scratch buffer, emptied, for a
// handler to build keys or values in; it lives until the next call of
// Scratch, and ScratchDone hands back the grown buffer for reuse.
func (x *Ctx) Scratch() []byte { return x.scratch[:0] }

// ScratchDone keeps b (grown from Scratch) for the next use.
func (x *Ctx) ScratchDone(b []byte) { x.scratch = b[:0] }

// equalFoldASCII compares b with lower, a lower-case ASCII string.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
