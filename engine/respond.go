package engine

import (
	"net/http"
	"strconv"
)

// statusLine appends "HTTP/1.1 <code> <reason>\r\n".
func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	return append(dst, "\r\n"...)
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
	x.errBody = appendErrorBody(x.errBody[:0], status, msg, x.RequestID())
	body := x.errBody
	fields := jsonFields
	if len(extra) > 0 {
		fields = append(append(cc.w.errFields[:0], jsonFields...), extra...)
		cc.w.errFields = fields
	}
	cc.respondLocal(status, fields, body)
}

var jsonFields = []byte("Content-Type: application/json\r\n")
