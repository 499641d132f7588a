package engine

import (
	"net/http"
	"strconv"

	"github.com/sluice-gw/sluice/http1"
)

// statusLine appends "HTTP/1.1 <code> <reason>\r\n".
func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	return append(dst, "\r\n"...)
}

// respondLocal writes a complete response made by the gateway (an error, a
// policy's answer) in one write, and finishes the response.
func (cc *clientConn) respondLocal(status int, fields, body []byte) {
	x := cc.x
	if cc.closed || cc.responded || x.status != 0 {
		return
	}
	out := appendStatusLine(cc.w.out[:0], status)
	out = append(out, fields...)
	if status == 204 || status == 304 {
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
	case !cc.keepAlive:
		out = append(out, "Connection: close\r\n"...)
	case x.Req.Minor == 0:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	out = append(out, "\r\n"...)
	cc.w.out = out
	x.status = status
	if len(body) > 0 && x.Req.Method != http1.MethodHEAD {
		cc.iov[0], cc.iov[1] = out, body
		cc.writev()
		cc.iov[0], cc.iov[1] = nil, nil
		x.bodySent = int64(len(body))
	} else {
		cc.write(out)
	}
	cc.dropUpstream()
	cc.finishResponse()
}

// respondError writes the gateway's JSON error:
// {"status":502,"error":"upstream connect refused","request_id":"..."}.
func (cc *clientConn) respondError(status int, msg string) {
	cc.respondErrorFields(status, nil, msg)
}

// respondErrorFields is respondError with extra field lines.
func (cc *clientConn) respondErrorFields(status int, extra []byte, msg string) {
	x := cc.x
	if cc.detached && cc.pump != nil {
		cc.dropUpstream()
		cc.deferError(status, msg)
		return
	}
	if x.failure == "" && status >= 400 {
		x.failure = msg
	}
	body := cc.w.errBody[:0]
	body = append(body, `{"status":`...)
	body = strconv.AppendInt(body, int64(status), 10)
	body = append(body, `,"error":`...)
	body = strconv.AppendQuote(body, msg)
	body = append(body, `,"request_id":"`...)
	body = append(body, x.RequestID()...)
	body = append(body, "\"}\n"...)
	cc.w.errBody = body
	fields := jsonFields
	if len(extra) > 0 {
		fields = append(append(cc.w.errFields[:0], jsonFields...), extra...)
		cc.w.errFields = fields
	}
	cc.respondLocal(status, fields, body)
}

var jsonFields = []byte("Content-Type: application/json\r\n")
