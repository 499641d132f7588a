package http1

import (
	"errors"
	"testing"
)

func TestResponseConformance(t *testing.T) {
	cases := []struct {
		name   string
		rfc    string
		method Method
		in     string
		err    error
		body   BodyKind
		cl     int64
		keep   bool
	}{
		{"200 with length", "RFC 9112 §6.3 (6)", MethodGET, crlf("HTTP/1.1 200 OK", "Content-Length: 12"), nil, BodyLength, 12, true},
		{"200 length zero", "RFC 9112 §6.3 (6)", MethodGET, crlf("HTTP/1.1 200 OK", "Content-Length: 0"), nil, BodyNone, 0, true},
		{"200 chunked", "RFC 9112 §6.3 (4)", MethodGET, crlf("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"), nil, BodyChunked, -1, true},
		{"200 gzip without chunked reads until close", "RFC 9112 §6.3 (4)", MethodGET, crlf("HTTP/1.1 200 OK", "Transfer-Encoding: gzip"), nil, BodyUntilClose, -1, false},
		{"200 no framing reads until close", "RFC 9112 §6.3 (8)", MethodGET, crlf("HTTP/1.1 200 OK"), nil, BodyUntilClose, -1, false},
		{"HEAD response has no body", "RFC 9112 §6.3 (1)", MethodHEAD, crlf("HTTP/1.1 200 OK", "Content-Length: 99"), nil, BodyNone, 99, true},
		{"204 has no body", "RFC 9112 §6.3 (1)", MethodGET, crlf("HTTP/1.1 204 No Content"), nil, BodyNone, -1, true},
		{"304 has no body", "RFC 9112 §6.3 (1)", MethodGET, crlf("HTTP/1.1 304 Not Modified", "Content-Length: 5"), nil, BodyNone, 5, true},
		{"100 continue", "RFC 9112 §6.3 (1)", MethodPUT, crlf("HTTP/1.1 100 Continue"), nil, BodyNone, -1, true},
		{"2xx to CONNECT is a tunnel", "RFC 9112 §6.3 (2)", MethodCONNECT, crlf("HTTP/1.1 200 Connection established"), nil, BodyNone, -1, true},
		{"407 to CONNECT has a body", "RFC 9112 §6.3 (2)", MethodCONNECT, crlf("HTTP/1.1 407 Proxy Auth", "Content-Length: 3"), nil, BodyLength, 3, true},
		{"HTTP/1.0 default close", "RFC 9112 §9.3", MethodGET, crlf("HTTP/1.0 200 OK", "Content-Length: 1"), nil, BodyLength, 1, false},
		{"HTTP/1.0 keep-alive", "RFC 9112 §9.3", MethodGET, crlf("HTTP/1.0 200 OK", "Connection: keep-alive", "Content-Length: 1"), nil, BodyLength, 1, true},
		{"HTTP/1.1 close", "RFC 9112 §9.6", MethodGET, crlf("HTTP/1.1 200 OK", "Connection: close", "Content-Length: 1"), nil, BodyLength, 1, false},
		{"empty reason with SP", "RFC 9112 §4", MethodGET, crlf("HTTP/1.1 200 ", "Content-Length: 0"), nil, BodyNone, 0, true},
		{"empty reason without SP", "RFC 9112 §4 (lenient)", MethodGET, crlf("HTTP/1.1 200", "Content-Length: 0"), nil, BodyNone, 0, true},
		{"reason with obs-text", "RFC 9112 §4", MethodGET, crlf("HTTP/1.1 200 \xc3\xa9t\xc3\xa9", "Content-Length: 0"), nil, BodyNone, 0, true},

		{"TE and CL", "RFC 9112 §6.3 (3)", MethodGET, crlf("HTTP/1.1 200 OK", "Content-Length: 5", "Transfer-Encoding: chunked"), ErrTEAndCL, 0, 0, false},
		{"duplicate CL", "RFC 9112 §6.3 (5)", MethodGET, crlf("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 5"), ErrDuplicateContentLength, 0, 0, false},
		{"bad CL", "RFC 9112 §6.3 (5)", MethodGET, crlf("HTTP/1.1 200 OK", "Content-Length: 5a"), ErrContentLength, 0, 0, false},
		{"unknown coding", "RFC 9112 §6.1", MethodGET, crlf("HTTP/1.1 200 OK", "Transfer-Encoding: br0"), ErrUnknownTransferCoding, 0, 0, false},
		{"HTTP/2 status-line", "RFC 9112 §2.3", MethodGET, crlf("HTTP/2.0 200 OK"), ErrVersion, 0, 0, false},
		{"two-digit status", "RFC 9112 §4", MethodGET, crlf("HTTP/1.1 20 OK"), ErrBadStatusLine, 0, 0, false},
		{"status 600", "RFC 9110 §15", MethodGET, crlf("HTTP/1.1 600 X"), ErrBadStatusLine, 0, 0, false},
		{"status 099", "RFC 9110 §15", MethodGET, crlf("HTTP/1.1 099 X"), ErrBadStatusLine, 0, 0, false},
		{"double SP", "RFC 9112 §4", MethodGET, crlf("HTTP/1.1  200 OK"), ErrBadStatusLine, 0, 0, false},
		{"junk after code", "RFC 9112 §4", MethodGET, crlf("HTTP/1.1 200x OK"), ErrBadStatusLine, 0, 0, false},
		{"CTL in reason", "RFC 9112 §4", MethodGET, crlf("HTTP/1.1 200 O\x01K"), ErrBadStatusLine, 0, 0, false},
		{"bare LF", "RFC 9112 §2.2", MethodGET, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", ErrBareLF, 0, 0, false},
		{"obs-fold", "RFC 9112 §5.2", MethodGET, crlf("HTTP/1.1 200 OK", "X: a", "\tb"), ErrObsFold, 0, 0, false},
		{"space before colon", "RFC 9112 §5.1", MethodGET, crlf("HTTP/1.1 200 OK", "Content-Length : 5"), ErrSpaceBeforeColon, 0, 0, false},
		{"leading CRLF not skipped", "RFC 9112 §2.2", MethodGET, "\r\n" + crlf("HTTP/1.1 200 OK"), ErrBadStatusLine, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			var r Response
			r.Reset()
			n, err := r.Parse(buf, tc.method)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("%s: error = %v, want %v", tc.rfc, err, tc.err)
				}
				if StatusOf(err) != 502 {
					t.Fatalf("StatusOf = %d, want 502", StatusOf(err))
				}
				return
			}
			if err != nil || n != len(buf) {
				t.Fatalf("%s: n=%d err=%v", tc.rfc, n, err)
			}
			if r.Body != tc.body || r.ContentLength != tc.cl || r.KeepAlive != tc.keep {
				t.Fatalf("%s: body=%v cl=%d keep=%v, want %v %d %v", tc.rfc, r.Body, r.ContentLength, r.KeepAlive, tc.body, tc.cl, tc.keep)
			}
			// Split at every point gives the same result.
			var s Response
			s.Reset()
			for i := 0; i <= len(buf); i++ {
				m, err := s.Parse(append([]byte(nil), buf[:i]...), tc.method)
				if err != nil {
					t.Fatalf("prefix %d: %v", i, err)
				}
				if m > 0 {
					break
				}
			}
			if s.HeadLen != r.HeadLen || s.Body != r.Body || s.Status != r.Status || s.Reason != r.Reason || len(s.Fields) != len(r.Fields) {
				t.Fatalf("split parse differs")
			}
		})
	}
}

func TestResponseFields(t *testing.T) {
	buf := []byte(crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: x"))
	var r Response
	r.Reset()
	if _, err := r.Parse(buf, MethodGET); err != nil {
		t.Fatal(err)
	}
	if !r.Upgrade || r.Status != 101 || r.Body != BodyNone {
		t.Fatalf("101: %+v", &r)
	}
	wantStr(t, "reason", r.Reason.In(buf), "Switching Protocols")
	v, ok := r.Field(buf, "SEC-WEBSOCKET-ACCEPT")
	if !ok {
		t.Fatal("lookup failed")
	}
	wantStr(t, "value", v.In(buf), "x")
	if _, ok := r.Field(buf, "missing"); ok {
		t.Fatal("found a missing field")
	}
}

func TestStatusOf(t *testing.T) {
	if StatusOf(nil) != 200 || StatusOf(errors.New("x")) != 400 || StatusOf(ErrVersion) != 505 ||
		StatusOf(ErrUnknownTransferCoding) != 501 || StatusOf(ErrRequestLineTooLong) != 414 ||
		StatusOf(ErrExpectation) != 417 || StatusOf(ErrHeadTooLarge) != 431 {
		t.Fatal("StatusOf mapping")
	}
	up := AsUpstream(ErrBareLF)
	if StatusOf(up) != 502 || !errors.Is(up, ErrBareLF) || errors.Is(up, ErrBareCR) {
		t.Fatal("upstream twin")
	}
}
