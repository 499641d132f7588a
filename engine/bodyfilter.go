package engine

import (
	"errors"
	"strconv"

	"github.com/sluice-gw/sluice/http1"
)

// Response bodies through body_filter. A response body is relayed byte for
// byte (upstream.go) unless a header_filter handler asked otherwise for
// this response — a route's body filters cost nothing on the responses
// they leave alone:
//
//   - FilterBody: the engine takes the payload out of its framing and
//     hands each piece to the body filters as it comes (BodyChunk),
//     the last call with BodyEnd true; what the handlers leave is sent
//     chunked to an HTTP/1.1 client, or until close to an HTTP/1.0 one. The
//     hand-off rules of handoff.go still bound memory: a slow client pauses
//     the upstream as for any body.
//   - BufferResponse(max): the whole body is collected, at most max bytes,
//     and the handlers see it once, with BodyEnd true; the head is sent
//     after them with the new Content-Length. A body over max is a 502
//     (nothing was sent yet).
//   - ReplaceResponseBody(b): the head goes out at once with b's length,
//     then b; the upstream's body is read and dropped (its connection stays
//     reusable). Nothing is buffered, whatever the upstream's body size.
//
// Local answers pass the body filters once, whole, when a header filter
// asked for FilterBody or BufferResponse.

type filterMode uint8

const (
	filterNone    filterMode = iota
	filterStream             // chunks through body filters, re-framed chunked
	filterBuffer             // the whole body, then the head
	filterReplace            // a replacement sent at once, the upstream's body dropped
)

var (
	// errBufferOverflow: a buffered response body passed its cap.
	errBufferOverflow = errors.New("response body larger than the policy's buffer")
	// errFilterFailed: a body filter failed and the request was ended
	// (500, or a cut body): the relay stops.
	errFilterFailed = errors.New("body filter failed")
)

// BufferResponse asks for the whole response body before anything is sent
// (header_filter only): body filters then see it in one call, at most max
// bytes (8 MiB when max <= 0). A larger upstream body gets a 502.
func (x *Ctx) BufferResponse(max int64) {
	if max <= 0 {
		max = defaultReadBodyMax
	}
	if x.bufferMax == 0 || max < x.bufferMax {
		x.bufferMax = max
	}
}

// FilterBody asks for this response's body to go through the route's body
// filters (header_filter only); without it (or BufferResponse) the body is
// relayed untouched.
func (x *Ctx) FilterBody() { x.filterOn = true }

// ReplaceResponseBody sends b instead of the response's body (header_filter
// only), with the framing rewritten; the upstream's body is read and
// dropped, never held. b is not copied: it must stay valid until the
// request ends (config bytes, or a buffer of the policy's that lives as
// long). Body filters do not run on it.
func (x *Ctx) ReplaceResponseBody(b []byte) {
	x.replacing = true
	x.replaceBody = b
}

// BodyChunk is the piece of response body being filtered (body_filter
// only): a view valid until the handler returns.
func (x *Ctx) BodyChunk() []byte { return x.chunk }

// BodyEnd says whether the chunk is the last of the body.
func (x *Ctx) BodyEnd() bool { return x.chunkEnd }

// SetBodyChunk replaces the chunk for the handlers after this one and the
// client. b must stay valid until the handler returns (the engine copies
// what it keeps).
func (x *Ctx) SetBodyChunk(b []byte) { x.chunk = b }

// wantsBodyFilter says whether the upstream response r goes through the
// body filters.
func (x *Ctx) wantsBodyFilter(r *http1.Response) bool {
	switch {
	case x.replacing:
		return true
	case x.bufferMax > 0:
		return true
	case x.filterOn:
		return r.Body != http1.BodyNone && x.chain != nil && len(x.chain[PhaseBodyFilter]) > 0
	}
	return false
}

// filterBody runs the body filters over one chunk; an Error or a Done
// leaves the chunk as it was and is reported false.
func (x *Ctx) filterBody(chunk []byte, end bool) []byte {
	out, _ := x.runBodyFilters(chunk, end)
	return out
}

func (x *Ctx) runBodyFilters(chunk []byte, end bool) ([]byte, bool) {
	x.chunk, x.chunkEnd = chunk, end
	if x.chain == nil {
		return chunk, true
	}
	x.phase = PhaseBodyFilter
	ok := true
	for _, h := range x.chain[PhaseBodyFilter] {
		if s := x.call(h); s != Continue {
			if x.failure == "" {
				x.failure = "policy returned " + s.String() + " in body_filter"
			}
			ok = false
			break
		}
	}
	out := x.chunk
	x.chunk = nil
	return out, ok
}

// startFilteredBody begins a filtered response after header_filter: the
// head goes out now (streaming) or after the body (buffered).
func (cc *clientConn) startFilteredBody(uc *upstreamConn, buf []byte, n int) {
	x := cc.x
	r := &uc.resp
	uc.dechunk = false
	uc.w.wheel.disarm(&uc.timer)
	uc.state = upBody
	switch {
	case x.replacing:
		x.filterMode = filterReplace
		e := &x.respEdits
		e.RemoveString("Transfer-Encoding")
		var num [20]byte
		e.Set(bContentLength, strconv.AppendInt(num[:0], int64(len(x.replaceBody)), 10))
		cc.setConnectionField()
		out := http1.AppendResponseHead(cc.w.out[:0], buf, r, e)
		cc.w.out = out
		x.status = e.Status()
		if x.status == 0 {
			x.status = r.Status
		}
		if len(x.replaceBody) > 0 && x.req.Method != http1.MethodHEAD {
			cc.iov[0], cc.iov[1] = out, x.replaceBody
			cc.writev()
			cc.iov[0], cc.iov[1] = nil, nil
			x.bodySent = int64(len(x.replaceBody))
		} else {
			cc.write(out)
		}
		discard(uc.c, n)
	case x.bufferMax > 0:
		x.filterMode = filterBuffer
		x.respBody = takeBuffer(&x.respBodyBuf)
		// The head's bytes leave gnet's buffer below: keep a copy, at the
		// same offsets, to serialize it once the body is in.
		x.localHead = append(x.localHead[:0], buf[:n]...)
		discard(uc.c, n)
	default:
		x.filterMode = filterStream
		e := &x.respEdits
		e.Remove(bContentLength)
		e.RemoveString("Transfer-Encoding")
		if x.req.Minor == 1 {
			e.SetString("Transfer-Encoding", "chunked")
		} else {
			cc.keepAlive = false // the body ends when the connection does
		}
		cc.setConnectionField()
		cc.w.out = http1.AppendResponseHead(cc.w.out[:0], buf, r, e)
		x.status = e.Status()
		if x.status == 0 {
			x.status = r.Status
		}
		cc.write(cc.w.out)
		discard(uc.c, n)
	}
	if uc.body.kind == frameNone {
		if uc.finishFilteredBody() {
			cc.responseComplete(uc)
		}
		return
	}
	uc.relayBody()
}

// setConnectionField adds the Connection field the client needs.
func (cc *clientConn) setConnectionField() {
	e := &cc.x.respEdits
	switch {
	case !cc.keepAliveNow():
		e.SetString("Connection", "close")
	case cc.x.req.Minor == 0:
		e.SetString("Connection", "keep-alive")
	}
}

// filterBytes is relayBytes for a filtered body: it takes the payload out
// of the upstream's framing and feeds the body filters.
func (uc *upstreamConn) filterBytes(src []byte) (n int, done bool, err error, trailing bool) {
	x := uc.owner.x
	for n < len(src) && !done {
		m, data, d, err := uc.body.takeData(src[n:])
		if err != nil {
			return n, false, err, false
		}
		if m == 0 {
			break
		}
		n += m
		done = d
		if len(data) == 0 || x.filterMode == filterReplace {
			continue // a replaced body is read and dropped
		}
		if x.filterMode == filterBuffer {
			if int64(len(x.respBody)+len(data)) > x.bufferMax {
				return n, false, errBufferOverflow, false
			}
			x.respBody = append(x.respBody, data...)
			continue
		}
		if !uc.sendFilteredChunk(data, false) {
			return n, false, errFilterFailed, false
		}
	}
	if done && !uc.finishFilteredBody() {
		return n, false, errFilterFailed, false
	}
	return n, done, nil, done && n < len(src)
}

// sendFilteredChunk filters one streamed chunk and sends what is left; false
// when a filter failed and the response was cut.
func (uc *upstreamConn) sendFilteredChunk(data []byte, end bool) bool {
	cc := uc.owner
	x := cc.x
	out, ok := x.runBodyFilters(data, end)
	if !ok {
		// The head is out: the only honest signal left is to cut the body.
		cc.dropUpstream()
		cc.closeAfterFlush()
		return false
	}
	if x.req.Minor == 1 {
		if len(out) > 0 {
			b := strconv.AppendInt(cc.w.out[:0], int64(len(out)), 16)
			b = append(b, "\r\n"...)
			cc.iov[0], cc.iov[1] = b, out
			cc.writev()
			cc.iov[0], cc.iov[1] = nil, nil
			cc.write(crlf)
			cc.w.out = b[:0]
		}
		if end {
			cc.write(lastChunk)
		}
	} else if len(out) > 0 {
		cc.write(out)
	}
	x.bodySent += int64(len(out))
	return true
}

var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n\r\n")
)

// finishFilteredBody ends a filtered body: the last call of the filters
// (streaming), or the filters over the whole body and then the head
// (buffered). It reports false when a filter failed and the request was
// ended another way (500, or a cut body).
func (uc *upstreamConn) finishFilteredBody() bool {
	cc := uc.owner
	x := cc.x
	switch x.filterMode {
	case filterStream:
		return uc.sendFilteredChunk(nil, true)
	case filterReplace:
		return true
	}
	body, ok := x.runBodyFilters(x.respBody, true)
	if !ok {
		cc.dropUpstream()
		cc.respondError(500, "policy failed")
		return false
	}
	e := &x.respEdits
	e.RemoveString("Transfer-Encoding")
	var n [20]byte
	e.Set(bContentLength, strconv.AppendInt(n[:0], int64(len(body)), 10))
	cc.setConnectionField()
	out := http1.AppendResponseHead(cc.w.out[:0], x.localHead, &uc.resp, e)
	cc.w.out = out
	x.status = e.Status()
	if x.status == 0 {
		x.status = uc.resp.Status
	}
	if len(body) > 0 && x.req.Method != http1.MethodHEAD {
		cc.iov[0], cc.iov[1] = out, body
		cc.writev()
		cc.iov[0], cc.iov[1] = nil, nil
		x.bodySent = int64(len(body))
	} else {
		cc.write(out)
	}
	return true
}
