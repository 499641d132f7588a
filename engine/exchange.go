package engine

import (
	"fmt"
	"strconv"

	"github.com/sluice-gw/sluice/http1"
)

// The exchange: one request, from its first byte to its log line. The Ctx
// is the exchange's state; client.go and upstream.go do the connections'
// I/O and call in here for every decision.
//
//	            first byte
//	   idle ─────────────► head ────────── refused head (400/408/431),
//	    ▲                    │ routed        no route (404), 413 ──────┐
//	    │                    ▼                                         │
//	    │      ┌────────► request ◄───────┐ Resume                     │
//	    │      │   rewrite → access →     │                            │
//	    │      │   content                │                            │
//	    │      │        │ Suspend, ReadBody                            │
//	    │      │        └──────► suspended ── deadline: 504 ──────────┤
//	    │      │ Respond/Error        │                                │
//	    │      │ (a local answer)     │ Respond                        │
//	    │      │                      │                                │
//	    │      │ all Continue         ▼                                ▼
//	    │      └──► upstream ───────────────────────────────────► response
//	    │        pick a target, pooled   head: header_filter,    (upstream's or local)
//	    │        or new connection,      body_filter, relay      header_filter → body_filter
//	    │        send, await the head;   (retry: another target  → send
//	    │        failure: retry or 5xx   while nothing was sent)        │
//	    │                                                               ▼
//	    └───────────────── reset (next request, or close) ◄───────── done (log)
//
// Any stage goes to done when the client goes away (the log still runs).
// Every transition goes through Ctx.to, which checks it against the table
// below: a transition that is not in it is an engine bug, a panic under
// tests (StrictStages) and a counted, logged event in production.
//
// The phase rules are the same everywhere (see Status): handlers run in
// priority order; Continue goes on, Done means the handler answered,
// Suspend waits for a Resume, Error is a 500 (or a close once the response
// head was sent). Answers made by the gateway itself — errors, 401/429,
// mocks, cache hits — pass header_filter and body_filter like upstream
// responses do (Ctx.IsLocal tells them apart), so CORS fields, request ids
// and header edits reach them too.

// stage is where a request is in its exchange.
type stage uint8

const (
	stageIdle      stage = iota // no request: the context is free or waits for a first byte
	stageHead                   // the request head is being read
	stageRequest                // the request phases run (rewrite, access, content)
	stageSuspended              // a handler waits for off-loop work or the request body
	stageUpstream               // attempts at the upstream: pick, connect, send, await the head
	stageResponse               // the response (upstream's or local) is filtered and sent
	stageDone                   // the log phase ran; the context waits for its reset
	numStages
)

var stageNames = [numStages]string{"idle", "head", "request", "suspended", "upstream", "response", "done"}

func (s stage) String() string {
	if s < numStages {
		return stageNames[s]
	}
	return "stage?"
}

// stageNext lists, for each stage, the stages it may move to.
var stageNext = [numStages]uint8{
	stageIdle:      1<<stageHead | 1<<stageDone,
	stageHead:      1<<stageRequest | 1<<stageResponse | 1<<stageDone | 1<<stageIdle, // idle: gone mid-head
	stageRequest:   1<<stageSuspended | 1<<stageUpstream | 1<<stageResponse | 1<<stageDone,
	stageSuspended: 1<<stageRequest | 1<<stageResponse | 1<<stageDone,
	stageUpstream:  1<<stageResponse | 1<<stageDone,
	stageResponse:  1 << stageDone,
	stageDone:      1 << stageIdle,
}

// StrictStages makes a transition that the table refuses panic instead of
// being counted. Tests set it; it must not change while a server runs.
var StrictStages = false

// to moves the request to stage s, checking the move.
func (x *Ctx) to(s stage) {
	if stageNext[x.stage]&(1<<s) == 0 {
		x.badTransition(s)
	}
	x.countStage(x.stage, s) // connections by state (connstate.go)
	x.stage = s
}

func (x *Ctx) badTransition(s stage) {
	msg := fmt.Sprintf("engine: request moved from stage %s to %s", x.stage, s)
	if StrictStages {
		panic(msg)
	}
	if x.cc != nil {
		srv := x.cc.w.srv
		if srv.badTransitions.Add(1) == 1 {
			srv.logf("%s (an engine bug; further ones are only counted)", msg)
		}
	}
}

// routeRequest finds the request's route and starts its phases; the head
// was just parsed.
func (cc *clientConn) routeRequest() {
	x := cc.x
	host := x.req.Host
	if x.req.Form == http1.FormAbsolute {
		host = x.req.Authority
	}
	idx, plen, ok := x.snap.table.Lookup(host.In(x.head), x.req.Path.In(x.head), x.req.MethodName.In(x.head), &x.params)
	if !ok {
		x.route = x.snap.noRoute // for the global policies' response filters
		x.chain = &x.route.chain
		x.sizeValues(x.route)
		cc.respondError(404, "no route matched")
		return
	}
	r := x.snap.routes.At(idx)
	x.route = r
	x.chain = &r.chain
	if len(x.snap.consumers) > 0 {
		x.stripClientIdentity()
	}
	x.prefixLen = plen
	x.sizeValues(r)
	if max := r.maxBody; max > 0 && x.req.ContentLength > max {
		cc.keepAlive = false // do not read a body we refuse
		cc.respondError(413, "request body too large")
		return
	}
	x.to(stageRequest)
	cc.runPhases(Continue)
}

// runPhases walks the route's rewrite, access and content handlers from
// the saved index, then proxies. s is the status of the handler that ran
// last (Continue to start).
func (cc *clientConn) runPhases(s Status) {
	x := cc.x
	gen := x.gen
	for {
		if x.gen != gen || cc.closed {
			return // the request ended (a local response finished it)
		}
		if x.suspended && s != Suspend {
			// Suspend() then another status: the work out there must not
			// resume this request a second time.
			x.endSuspension()
			s = Error
			x.failure = "policy called Suspend but did not return Suspend"
		}
		switch s {
		case Done:
			if !x.answered() {
				x.failure = "policy returned Done without a response"
				cc.respondError(500, "policy ended the request without a response")
			}
			return
		case Suspend:
			if !x.suspended {
				x.failure = "policy returned Suspend without Ctx.Suspend"
				cc.respondError(500, "policy failed")
				return
			}
			x.to(stageSuspended)
			switch {
			case x.readingBody:
				cc.bufferRequestBody() // what came with the head, if anything
			case cc.timerKind != ctDelay:
				cc.armTimer(ctSuspend, x.snap.policyTimeout)
			}
			return
		case Error:
			if x.failure == "" {
				x.failure = "policy failed in " + x.phase.String()
			}
			cc.respondError(500, "policy failed")
			return
		}
		if x.answered() {
			return // a handler answered and returned Continue: the answer stands
		}
		if x.phase > PhaseContent {
			x.to(stageUpstream)
			cc.proxy()
			return
		}
		hs := x.chain[x.phase]
		if x.next >= len(hs) {
			x.phase++
			x.next = 0
			continue
		}
		h := hs[x.next]
		x.next++
		s = x.call(h)
	}
}

// answered says whether the response is decided: a local answer was made
// or the head went out.
func (x *Ctx) answered() bool {
	return x.local || x.status != 0 || x.cc.responded
}

// resumeFromSuspension continues a suspended request with the status a
// resumed closure returned.
func (cc *clientConn) resumeFromSuspension(s Status) {
	x := cc.x
	x.to(stageRequest)
	cc.runPhases(s)
}

// respondLocal answers the request from the gateway: an error or a
// policy's answer. Outside header_filter the answer is filtered (header and
// body filters) and sent at once; inside, it replaces the response being
// filtered and the handlers after the current one see it.
func (cc *clientConn) respondLocal(status int, fields, body []byte) {
	x := cc.x
	if cc.closed || cc.responded || x.status != 0 {
		return
	}
	x.setLocal(status, fields, body)
	if x.filtering {
		return
	}
	if x.suspended {
		x.endSuspension()
	}
	if cc.timerKind == ctSuspend || cc.timerKind == ctDelay {
		cc.disarmTimer()
	}
	if x.stage != stageResponse { // a buffered response body that failed is already there
		x.to(stageResponse)
	}
	cc.dropUpstream()
	cc.filterResponse()
	cc.sendLocal()
}

// setLocal records a local answer; the body is not copied and must stay
// valid until the request ends.
func (x *Ctx) setLocal(status int, fields, body []byte) {
	x.local = true
	x.localDirty = true
	x.localStatus = status
	x.localFields = append(x.localFields[:0], fields...)
	x.localBody = body
}

// buildLocalHead serializes the local answer's head (without framing) and
// parses it, so that header filters read it as they read an upstream's.
func (x *Ctx) buildLocalHead() {
	x.localDirty = false
	h := appendStatusLine(x.localHead[:0], x.localStatus)
	h = append(h, x.localFields...)
	h = append(h, "\r\n"...)
	x.localHead = h
	x.localResp.Reset()
	x.localResp.Limits = localHeadLimits
	if n, err := x.localResp.Parse(h, x.req.Method); err != nil || n != len(h) {
		// A policy gave field lines that do not parse: answer without them
		// rather than send a broken head.
		x.failure = "policy answered with invalid header fields"
		x.localFields = x.localFields[:0]
		h = appendStatusLine(x.localHead[:0], x.localStatus)
		x.localHead = append(h, "\r\n"...)
		x.localResp.Reset()
		_, _ = x.localResp.Parse(x.localHead, x.req.Method)
	}
	x.resp = &x.localResp
	x.respBuf = x.localHead
}

var localHeadLimits = http1.Limits{MaxHeadBytes: 1 << 20, MaxFields: 1000, MaxFieldLine: 1 << 20}

// filterResponse runs the header filters on the response in x.resp (the
// upstream's, or the local answer). A handler that answers (Done with
// Respond) or fails (Error) turns the response into a local one, which
// the handlers after it filter. Handlers must not suspend here.
func (cc *clientConn) filterResponse() {
	x := cc.x
	if x.local && x.localDirty {
		x.buildLocalHead()
	}
	if x.chain == nil {
		return
	}
	hs := x.chain[PhaseHeaderFilter]
	x.phase = PhaseHeaderFilter
	x.filtering = true
	for x.next = 0; x.next < len(hs); {
		h := hs[x.next]
		x.next++
		s := x.call(h)
		switch s {
		case Done:
			if !x.localDirty {
				x.failure = "policy returned Done without a response in header_filter"
				x.setLocalError(500, "policy ended the request without a response")
			}
		case Suspend:
			if x.suspended {
				x.endSuspension()
			}
			x.failure = "policy suspended in header_filter"
			x.setLocalError(500, "policy failed")
		case Error:
			if x.failure == "" {
				x.failure = "policy failed in header_filter"
			}
			x.setLocalError(500, "policy failed")
		}
		if x.localDirty {
			x.buildLocalHead()
		}
	}
	x.filtering = false
}

// setLocalError records the gateway's JSON error as the local answer.
func (x *Ctx) setLocalError(status int, msg string) {
	x.errBody = appendErrorBody(x.errBody[:0], status, msg, x.RequestID())
	x.setLocal(status, jsonFields, x.errBody)
}

// sendLocal sends the local answer: its filtered head with the gateway's
// framing, and its body through the body filters.
func (cc *clientConn) sendLocal() {
	x := cc.x
	status := x.localStatus
	if st := x.respEdits.Status(); st != 0 {
		status = st
	}
	body := x.localBody
	switch {
	case x.replacing:
		body = x.replaceBody
	case (x.filterOn || x.bufferMax > 0) && x.chain != nil && len(x.chain[PhaseBodyFilter]) > 0:
		body = x.filterBody(body, true)
	}
	out := http1.AppendResponseHead(cc.w.out[:0], x.localHead, &x.localResp, &x.respEdits)
	out = out[:len(out)-2] // the final CRLF: framing and Connection come first
	if status == 204 || status == 304 || status < 200 {
		body = nil // RFC 9110 §15.3.5, §15.4.5: no content, and no Content-Length for 204
	} else {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		out = append(out, "\r\n"...)
	}
	if !cc.reqBodyDone && cc.bodyStarted {
		cc.keepAlive = false
	}
	switch {
	case !cc.keepAliveNow():
		out = append(out, "Connection: close\r\n"...)
	case x.req.Minor == 0:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	out = append(out, "\r\n"...)
	cc.w.out = out
	x.status = status
	if len(body) > 0 && x.req.Method != http1.MethodHEAD {
		cc.iov[0], cc.iov[1] = out, body
		cc.writev()
		cc.iov[0], cc.iov[1] = nil, nil
		x.bodySent = int64(len(body))
	} else {
		cc.write(out)
	}
	cc.finishResponse()
}

// appendErrorBody appends the gateway's JSON error:
// {"status":502,"error":"upstream connect refused","request_id":"..."}.
func appendErrorBody(dst []byte, status int, msg string, requestID []byte) []byte {
	dst = append(dst, `{"status":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"error":`...)
	dst = strconv.AppendQuote(dst, msg)
	dst = append(dst, `,"request_id":"`...)
	dst = append(dst, requestID...)
	return append(dst, "\"}\n"...)
}

// runLog moves the request to done and runs the log phase.
func (cc *clientConn) runLog() {
	x := cc.x
	if x.suspended {
		x.endSuspension()
	}
	x.to(stageDone)
	if x.chain != nil {
		x.phase = PhaseLog
		for _, h := range x.chain[PhaseLog] {
			x.call(h) // a panic is logged; the other log handlers still run
		}
	}
	if f := cc.w.srv.opts.AccessLog; f != nil {
		f(x)
	}
	cc.w.countResponse(x)
	cc.w.endRequestOnSnapshot(x.snap)
}
