package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
)

// The request body for policies. By default a body streams to the
// upstream and the gateway never holds it. A policy that needs it (a
// signature over the body, declared parameters, a cache key) calls
// ReadBody: the body is then read whole into the context, bounded, and
// sent upstream from there with its framing rewritten (Content-Length).
// A held body can be replayed, so such a request may be retried on another
// target.

// ErrBodyNotRead is returned by SetBody when the request has a body that
// was not read with ReadBody: the gateway cannot drop a streamed body.
var ErrBodyNotRead = errors.New("engine: the request body was not read (call ReadBody first)")

// ReadBody returns the whole request body (de-chunked). On the first call
// of a request whose body is not held yet it starts reading and returns
// (nil, Suspend): the handler returns that status and is called again once
// the body is in, when ReadBody returns (body, Continue). A body longer
// than max, or than the route's max_body, is answered 413 and the status is
// Done. A request without a body gives (nil, Continue). The view lives
// until the request ends or SetBody.
func (x *Ctx) ReadBody(max int64) ([]byte, Status) {
	if x.bodyBuffered {
		return x.body, Continue
	}
	cc := x.cc
	if !x.HasBody() || cc.reqBodyDone && !cc.bodyStarted {
		x.bodyBuffered = true
		return nil, Continue
	}
	if cc.bodyStarted || x.stage != stageRequest {
		// Part of the body is gone upstream already (or the request is past
		// its request phases): it cannot be held whole any more.
		x.failure = "ReadBody after the body started streaming"
		cc.respondError(500, "policy failed")
		return nil, Done
	}
	if m := x.route.maxBody; m > 0 && (max <= 0 || m < max) {
		max = m
	}
	if max <= 0 {
		max = defaultReadBodyMax
	}
	if x.req.ContentLength > max {
		cc.keepAlive = false // do not read a body we refuse
		cc.respondError(413, "request body too large")
		return nil, Done
	}
	x.bodyMax = max
	x.body = takeBuffer(&x.bodyBuf)
	x.suspended = true
	x.readingBody = true
	x.suspendSeq++
	x.next-- // the handler runs again when the body is in
	cc.read = readBuffer
	if x.req.ExpectContinue && x.req.Minor == 1 && cc.c.InboundBuffered() == 0 {
		cc.write(continueLine)
	}
	cc.armTimer(ctBody, x.snap.clientBodyTimeout)
	return nil, Suspend // the runner starts bufferRequestBody
}

// defaultReadBodyMax bounds ReadBody when neither the caller nor the route
// gives a cap.
const defaultReadBodyMax = 8 << 20

// bufferRequestBody moves request-body bytes from the client into the
// context; once the body is whole, the suspended handler runs again.
func (cc *clientConn) bufferRequestBody() {
	x := cc.x
	for {
		buf, _ := cc.c.Peek(-1)
		if len(buf) == 0 {
			return
		}
		n, data, done, err := cc.reqBody.takeData(buf)
		if err != nil {
			x.failure = "bad chunked request body: " + err.Error()
			cc.keepAlive = false
			cc.reqBodyDone = true
			cc.respondError(400, "invalid chunked request body")
			return
		}
		if int64(len(x.body)+len(data)) > x.bodyMax {
			x.failure = "request body over the policy's or route's limit"
			cc.keepAlive = false
			cc.respondError(413, "request body too large")
			return
		}
		x.body = append(x.body, data...)
		discard(cc.c, n)
		if done {
			break
		}
		if n == 0 {
			cc.armTimer(ctBody, x.snap.clientBodyTimeout)
			return
		}
	}
	cc.reqBodyDone = true
	cc.read = readHold
	cc.disarmTimer()
	x.bodyBuffered = true
	x.suspended, x.readingBody = false, false
	x.suspendSeq++
	cc.resumeFromSuspension(Continue)
}

// SetBody replaces the request body sent upstream (b is copied); the
// framing is rewritten. The body must have been read with ReadBody, or the
// request must have none.
func (x *Ctx) SetBody(b []byte) error {
	if !x.bodyBuffered {
		if x.HasBody() {
			return ErrBodyNotRead
		}
		x.bodyBuffered = true
	}
	if x.bodyBuf == nil {
		x.body = takeBuffer(&x.bodyBuf)
	}
	x.body = append(x.body[:0], b...)
	x.bodyReplaced = true
	return nil
}

// holdsBody says whether the upstream request's body comes from the
// context rather than from the client's stream.
func (x *Ctx) holdsBody() bool { return x.bodyBuffered && (x.bodyReplaced || x.HasBody()) }

// upstreamBodyEdits rewrites the framing of a held body.
func (x *Ctx) upstreamBodyEdits() {
	e := &x.reqEdits
	e.RemoveString("Transfer-Encoding")
	var n [20]byte
	e.Set(bContentLength, strconv.AppendInt(n[:0], int64(len(x.body)), 10))
}

var bContentLength = []byte("Content-Length")

// BodyForm parses a held application/x-www-form-urlencoded body (or the
// query when there is no body). It allocates; policies that need it are
// the ones that also read the body.
func (x *Ctx) BodyForm() (url.Values, error) {
	return url.ParseQuery(string(x.body))
}

// BodyJSON decodes a held JSON body into v.
func (x *Ctx) BodyJSON(v any) error {
	d := json.NewDecoder(bytes.NewReader(x.body))
	d.UseNumber()
	return d.Decode(v)
}

// BodyMultipart parses a held multipart/form-data body, keeping at most
// maxMemory bytes of file parts in memory (the rest goes to temporary
// files, removed by the form's RemoveAll).
func (x *Ctx) BodyMultipart(maxMemory int64) (*multipart.Form, error) {
	ct, _ := x.Header("Content-Type")
	mt, params, err := mime.ParseMediaType(string(ct))
	if err != nil {
		return nil, err
	}
	if mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, errors.New("engine: not a multipart/form-data body")
	}
	return multipart.NewReader(bytes.NewReader(x.body), params["boundary"]).ReadForm(maxMemory)
}
