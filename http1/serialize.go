package http1

import (
	"net/http"
	"strconv"
	"unsafe"
)

// AppendRequestHead appends the head to send upstream to dst and returns the
// extended slice: "METHOD target HTTP/1.1\r\n", then Host, the original
// field lines byte for byte except hop-by-hop ones and edited ones, then the
// edits, then CRLF. buf is the buffer r was parsed from; e may be nil.
//
// The target is e's SetTarget, else the request's own target with
// absolute-form turned into origin-form (empty path becomes "/").
//
// Host is e's SetHost; else, for absolute-form, the target's authority (RFC
// 9112 §3.2.2: a server MUST ignore the Host field then and use the
// authority, so the gateway forwards what it routed on); else the request's
// Host line, kept byte for byte in its place; else the authority
// (authority-form); else an empty Host (RFC 9110 §7.2). A generated Host
// line comes first, right after the request-line.
//
// Hop-by-hop fields (RFC 9110 §7.6.1) are dropped: Connection and every
// field it names, Keep-Alive, Proxy-Connection, TE, Trailer, and Upgrade
// unless e.KeepUpgrade (which then also sends "Connection: upgrade").
// Transfer-Encoding and Content-Length are framing and pass through.
//
// AppendRequestHead does not allocate when dst has room.
func AppendRequestHead(dst, buf []byte, r *Request, e *Edits) []byte {
	if e == nil {
		e = &noEdits
	}
	if e.hasMethod {
		dst = append(dst, e.method.In(e.arena)...)
	} else {
		dst = append(dst, r.MethodName.In(buf)...)
	}
	dst = append(dst, sp)
	switch {
	case e.hasTarget:
		dst = append(dst, e.target.In(e.arena)...)
	case r.Form == FormAbsolute:
		if r.Path.Empty() {
			dst = append(dst, '/')
		} else {
			dst = append(dst, r.Path.In(buf)...)
		}
		if r.HasQuery {
			dst = append(dst, '?')
			dst = append(dst, r.Query.In(buf)...)
		}
	default:
		dst = append(dst, r.Target.In(buf)...)
	}
	dst = append(dst, " HTTP/1.1\r\n"...)

	keepHostLine := !e.hasHost && r.Form != FormAbsolute && r.HasHost
	if !keepHostLine {
		dst = append(dst, "Host: "...)
		switch {
		case e.hasHost:
			dst = append(dst, e.host.In(e.arena)...)
		case r.Form == FormAbsolute || !r.HasHost:
			dst = append(dst, r.Authority.In(buf)...)
		}
		dst = append(dst, cr, lf)
	}
	h := hopByHop{buf: buf, fields: r.Fields, meta: r.st.meta, connOther: r.st.connOther}
	return appendFields(dst, buf, &h, e, keepHostLine, r.st.upgradeField)
}

// AppendResponseHead appends "HTTP/1.1 <status> <reason>\r\n", the fields
// minus hop-by-hop ones (AppendRequestHead's rules), the edits and CRLF.
// e may be nil. It does not allocate when dst has room.
func AppendResponseHead(dst, buf []byte, r *Response, e *Edits) []byte {
	if e == nil {
		e = &noEdits
	}
	if e.status != 0 && e.status != r.Status {
		dst = AppendStatusLine(dst, e.status, statusReason(e.status))
	} else {
		dst = AppendStatusLine(dst, r.Status, r.Reason.In(buf))
	}
	h := hopByHop{buf: buf, fields: r.Fields, meta: r.st.meta, connOther: r.st.connOther}
	return appendFields(dst, buf, &h, e, true, r.st.upgradeField)
}

// AppendStatusLine appends "HTTP/1.1 <status> <reason>\r\n". status must
// be in 100..999; reason must hold no CR or LF.
func AppendStatusLine(dst []byte, status int, reason []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, sp)
	dst = append(dst, reason...)
	return append(dst, cr, lf)
}

var noEdits Edits

// appendFields appends the original fields that survive, then the edits and
// the final CRLF. Host lines are kept only when keepHost.
func appendFields(dst, buf []byte, h *hopByHop, e *Edits, keepHost, hasUpgrade bool) []byte {
	keepUpgrade := e.KeepUpgrade && hasUpgrade
	for i, f := range h.fields {
		m := h.meta[i]
		switch m.kind {
		case kindHost:
			if !keepHost {
				continue
			}
		case kindUpgrade:
			if !keepUpgrade {
				continue
			}
		case kindXForwardedFor:
			if e.hasFor {
				continue
			}
		case kindConnection, kindKeepAlive, kindProxyConnection, kindTE, kindTrailer:
			continue
		}
		name := f.Name.In(buf)
		// Connection may name end-to-end fields; framing fields and Host are
		// never dropped that way, or "Connection: content-length" would
		// unframe the body.
		if h.connOther && m.kind != kindContentLength && m.kind != kindTransferEncoding &&
			m.kind != kindHost && m.kind != kindUpgrade && h.namedByConnection(name) {
			continue
		}
		if len(e.ops) > 0 && e.drops(name) {
			continue
		}
		dst = append(dst, buf[f.Name.Off:m.end]...)
	}
	if keepUpgrade {
		dst = append(dst, "Connection: upgrade\r\n"...)
	}
	if e.hasFor {
		dst = append(dst, "X-Forwarded-For: "...)
		for i, f := range h.fields {
			if h.meta[i].kind == kindXForwardedFor && !f.Value.Empty() {
				dst = append(dst, f.Value.In(buf)...)
				dst = append(dst, ", "...)
			}
		}
		dst = append(dst, e.forwardedFor.In(e.arena)...)
		dst = append(dst, cr, lf)
	}
	for i := range e.ops {
		op := &e.ops[i]
		if op.op != opSet && op.op != opAdd {
			continue
		}
		dst = append(dst, op.name.In(e.arena)...)
		dst = append(dst, ": "...)
		dst = append(dst, op.value.In(e.arena)...)
		dst = append(dst, cr, lf)
	}
	return append(dst, cr, lf)
}

// statusReason is the standard reason phrase of a status set by an edit
// ("" for an unknown code: the status-line then ends after the code's SP).
// The text is a constant string, so this does not allocate.
func statusReason(status int) []byte {
	return unsafe.Slice(unsafe.StringData(http.StatusText(status)), len(http.StatusText(status)))
}
