package http1

import (
	"errors"
	"strings"
	"testing"
)

// requestCase is one conformance case: input, the error wanted (nil for a
// valid head) and, for valid heads, a check of what was recorded.
type requestCase struct {
	name  string
	rfc   string // the section the case exercises
	in    string
	err   error
	check func(t *testing.T, buf []byte, r *Request)
}

func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

var requestCases = []requestCase{
	// Valid heads.
	{name: "simple GET", rfc: "RFC 9112 §3", in: crlf("GET / HTTP/1.1", "Host: a"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.Method == MethodGET && r.Form == FormOrigin && r.Major == 1 && r.Minor == 1, "method/form/version")
			wantStr(t, "path", r.Path.In(b), "/")
			wantStr(t, "host", r.Host.In(b), "a")
			want(t, r.HasHost && r.KeepAlive && !r.HasBody() && r.ContentLength == -1, "flags")
		}},
	{name: "origin-form with query", rfc: "RFC 9112 §3.2.1", in: crlf("GET /a/b?x=1&y HTTP/1.1", "Host: a"),
		check: func(t *testing.T, b []byte, r *Request) {
			wantStr(t, "path", r.Path.In(b), "/a/b")
			wantStr(t, "query", r.Query.In(b), "x=1&y")
			want(t, r.HasQuery, "HasQuery")
		}},
	{name: "empty query", rfc: "RFC 9112 §3.2.1", in: crlf("GET /a? HTTP/1.1", "Host: a"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.HasQuery && r.Query.Empty(), "empty query") }},
	{name: "absolute-form", rfc: "RFC 9112 §3.2.2", in: crlf("GET http://example.com:8080/p?q HTTP/1.1", "Host: other"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.Form == FormAbsolute, "form")
			wantStr(t, "authority", r.Authority.In(b), "example.com:8080")
			wantStr(t, "path", r.Path.In(b), "/p")
			wantStr(t, "query", r.Query.In(b), "q")
			wantStr(t, "host field", r.Host.In(b), "other")
		}},
	{name: "absolute-form empty path", rfc: "RFC 9112 §3.2.2", in: crlf("GET http://example.com HTTP/1.1", "Host: example.com"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.Path.Empty() && !r.HasQuery, "empty path") }},
	{name: "authority-form CONNECT", rfc: "RFC 9112 §3.2.3", in: crlf("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.Form == FormAuthority && r.Method == MethodCONNECT && r.Path.Empty(), "form")
			wantStr(t, "authority", r.Authority.In(b), "example.com:443")
		}},
	{name: "authority-form IPv6", rfc: "RFC 9112 §3.2.3", in: crlf("CONNECT [::1]:443 HTTP/1.1", "Host: [::1]:443")},
	{name: "asterisk-form OPTIONS", rfc: "RFC 9112 §3.2.4", in: crlf("OPTIONS * HTTP/1.1", "Host: a"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.Form == FormAsterisk, "form")
			wantStr(t, "path", r.Path.In(b), "*")
		}},
	{name: "extension method", rfc: "RFC 9110 §9.1", in: crlf("PROPFIND /x HTTP/1.1", "Host: a"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.Method == MethodOther, "MethodOther")
			wantStr(t, "method", r.MethodName.In(b), "PROPFIND")
		}},
	{name: "lower-case method is another method", rfc: "RFC 9110 §9.1", in: crlf("get / HTTP/1.1", "Host: a"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.Method == MethodOther, "case-sensitive") }},
	{name: "HTTP/1.0 without Host", rfc: "RFC 9112 §3.2", in: crlf("GET / HTTP/1.0"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, !r.HasHost && !r.KeepAlive && r.Minor == 0, "1.0") }},
	{name: "HTTP/1.0 keep-alive", rfc: "RFC 9112 §9.3", in: crlf("GET / HTTP/1.0", "Connection: Keep-Alive"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.KeepAlive, "keep-alive") }},
	{name: "HTTP/1.1 close", rfc: "RFC 9112 §9.6", in: crlf("GET / HTTP/1.1", "Host: a", "Connection: foo, close"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, !r.KeepAlive, "close") }},
	{name: "Connection options across lines", rfc: "RFC 9110 §5.3", in: crlf("GET / HTTP/1.1", "Host: a", "Connection: keep-alive", "Connection: close"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, !r.KeepAlive, "close in 2nd line") }},
	{name: "Connection empty list elements", rfc: "RFC 9110 §5.6.1", in: crlf("GET / HTTP/1.1", "Host: a", "Connection: , close ,"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, !r.KeepAlive, "close") }},
	{name: "upgrade", rfc: "RFC 9110 §7.8", in: crlf("GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.Upgrade, "Upgrade")
			wantStr(t, "proto", r.UpgradeProto.In(b), "websocket")
		}},
	{name: "Upgrade field without Connection option", rfc: "RFC 9110 §7.8", in: crlf("GET / HTTP/1.1", "Host: a", "Upgrade: h2c"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, !r.Upgrade, "no upgrade") }},
	{name: "upgrade ignored in HTTP/1.0", rfc: "RFC 9110 §7.8", in: crlf("GET / HTTP/1.0", "Connection: upgrade", "Upgrade: websocket"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, !r.Upgrade, "no upgrade") }},
	{name: "expect 100-continue", rfc: "RFC 9110 §10.1.1", in: crlf("PUT /x HTTP/1.1", "Host: a", "Expect: 100-Continue", "Content-Length: 5"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.ExpectContinue && r.ContentLength == 5 && r.HasBody(), "expect")
		}},
	{name: "expect ignored in HTTP/1.0", rfc: "RFC 9110 §10.1.1", in: crlf("PUT /x HTTP/1.0", "Expect: 100-continue"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, !r.ExpectContinue, "ignored") }},
	{name: "chunked", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked"),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, r.Chunked && r.HasBody() && r.ContentLength == -1, "chunked")
		}},
	{name: "gzip, chunked", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, Chunked"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.Chunked, "chunked") }},
	{name: "TE list across lines", rfc: "RFC 9110 §5.3", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.Chunked, "chunked") }},
	{name: "TE chunked with tab OWS", rfc: "RFC 9110 §5.5 (OWS)", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding:\tchunked\t"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.Chunked, "chunked") }},
	{name: "Content-Length OWS trimmed", rfc: "RFC 9110 §5.5", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length:  5 "),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.ContentLength == 5, "5") }},
	{name: "Content-Length zero", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 0"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.ContentLength == 0 && !r.HasBody(), "0") }},
	{name: "Content-Length max int64", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 9223372036854775807"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.ContentLength == 1<<63-1, "max") }},
	{name: "empty field value", rfc: "RFC 9110 §5.5", in: crlf("GET / HTTP/1.1", "Host: a", "X-Empty:", "X-Sp:   "),
		check: func(t *testing.T, b []byte, r *Request) {
			want(t, len(r.Fields) == 3 && r.Fields[1].Value.Empty() && r.Fields[2].Value.Empty(), "empty values")
		}},
	{name: "obs-text in value", rfc: "RFC 9110 §5.5", in: crlf("GET / HTTP/1.1", "Host: a", "X-Name: caf\xc3\xa9")},
	{name: "empty Host with origin-form", rfc: "RFC 9110 §7.2", in: crlf("GET / HTTP/1.1", "Host:"),
		check: func(t *testing.T, b []byte, r *Request) { want(t, r.HasHost && r.Host.Empty(), "empty host") }},
	{name: "one leading CRLF skipped", rfc: "RFC 9112 §2.2", in: "\r\n" + crlf("GET / HTTP/1.1", "Host: a"),
		check: func(t *testing.T, b []byte, r *Request) { wantStr(t, "method", r.MethodName.In(b), "GET") }},
	{name: "several leading CRLFs skipped", rfc: "RFC 9112 §2.2", in: "\r\n\r\n\r\n" + crlf("GET / HTTP/1.1", "Host: a")},
	{name: "leading CRLF: spans and HeadLen count it", rfc: "RFC 9112 §2.2", in: "\r\n" + crlf("POST /u HTTP/1.0", "Content-Length: 2"),
		check: func(t *testing.T, b []byte, r *Request) {
			wantStr(t, "method", r.MethodName.In(b), "POST")
			wantStr(t, "target", r.Target.In(b), "/u")
			want(t, r.HeadLen == len(b) && r.ContentLength == 2, "HeadLen includes the empty line")
		}},
	{name: "field name case preserved", rfc: "RFC 9110 §5.1", in: crlf("GET / HTTP/1.1", "hOsT: a", "X-CaSe: v"),
		check: func(t *testing.T, b []byte, r *Request) {
			wantStr(t, "name", r.Fields[1].Name.In(b), "X-CaSe")
			v, ok := r.Field(b, "x-case")
			want(t, ok, "lookup")
			wantStr(t, "lookup", v.In(b), "v")
		}},
	{name: "visible non-RFC3986 target bytes", rfc: "RFC 9112 §3.2 (lenient like nginx)", in: crlf("GET /a|b{c} HTTP/1.1", "Host: a")},

	// Request-line errors.
	{name: "double SP after method", rfc: "RFC 9112 §3", in: crlf("GET  / HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "double SP before version", rfc: "RFC 9112 §3", in: crlf("GET /  HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "trailing SP", rfc: "RFC 9112 §3", in: crlf("GET / HTTP/1.1 ", "Host: a"), err: ErrBadRequestLine},
	{name: "leading SP", rfc: "RFC 9112 §3", in: crlf(" GET / HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "HTAB separator", rfc: "RFC 9112 §3", in: crlf("GET\t/ HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "missing version", rfc: "RFC 9112 §3", in: crlf("GET /", "Host: a"), err: ErrBadRequestLine},
	{name: "HTTP/0.9 style", rfc: "RFC 9112 §3", in: "GET /\r\n\r\n", err: ErrBadRequestLine},
	{name: "lower-case version", rfc: "RFC 9112 §2.3", in: crlf("GET / http/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "HTTP/2.0", rfc: "RFC 9112 §2.3", in: crlf("GET / HTTP/2.0", "Host: a"), err: ErrVersion},
	{name: "HTTP/1.2", rfc: "RFC 9112 §2.3", in: crlf("GET / HTTP/1.2", "Host: a"), err: ErrVersion},
	{name: "HTTP/1.10", rfc: "RFC 9112 §2.3", in: crlf("GET / HTTP/1.10", "Host: a"), err: ErrBadRequestLine},
	{name: "non-token method", rfc: "RFC 9110 §9.1", in: crlf("GE(T / HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "NUL in target", rfc: "RFC 9112 §3.2", in: crlf("GET /\x00 HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "obs-text in target", rfc: "RFC 3986 §2", in: crlf("GET /\xff HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "fragment in target", rfc: "RFC 9112 §3.2", in: crlf("GET /a#f HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "asterisk with GET", rfc: "RFC 9112 §3.2.4", in: crlf("GET * HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "authority-form with GET", rfc: "RFC 9112 §3.2.3", in: crlf("GET example.com:80 HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "CONNECT with origin-form", rfc: "RFC 9112 §3.2.3", in: crlf("CONNECT / HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "CONNECT without port", rfc: "RFC 9112 §3.2.3", in: crlf("CONNECT example.com HTTP/1.1", "Host: a"), err: ErrBadRequestLine},
	{name: "absolute-form with userinfo", rfc: "RFC 9110 §4.2.4", in: crlf("GET http://u@h/ HTTP/1.1", "Host: h"), err: ErrBadRequestLine},
	{name: "absolute-form without authority", rfc: "RFC 9110 §4.2.1", in: crlf("GET http:///p HTTP/1.1", "Host: h"), err: ErrBadRequestLine},
	{name: "bare LF ends request-line", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\nHost: a\r\n\r\n", err: ErrBareLF},
	{name: "leading bare LF", rfc: "RFC 9112 §2.2", in: "\n" + crlf("GET / HTTP/1.1", "Host: a"), err: ErrBareLF},
	{name: "bare LF after a leading CRLF", rfc: "RFC 9112 §2.2", in: "\r\n\n" + crlf("GET / HTTP/1.1", "Host: a"), err: ErrBareLF},
	{name: "bare CR in request-line", rfc: "RFC 9112 §2.2", in: crlf("GET /\r HTTP/1.1", "Host: a"), err: ErrBadRequestLine},

	// Field syntax errors.
	{name: "bare LF ends field line", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", err: ErrBareLF},
	{name: "bare LF ends head", rfc: "RFC 9112 §2.2", in: "GET / HTTP/1.1\r\nHost: a\r\n\n", err: ErrBareLF},
	{name: "bare CR in value", rfc: "RFC 9112 §2.2", in: crlf("GET / HTTP/1.1", "Host: a", "X: a\rb"), err: ErrBareCR},
	{name: "obs-fold", rfc: "RFC 9112 §5.2", in: crlf("GET / HTTP/1.1", "Host: a", "X: a", " b"), err: ErrObsFold},
	{name: "leading whitespace before first field", rfc: "RFC 9112 §2.2", in: crlf("GET / HTTP/1.1", " Host: a"), err: ErrLeadingWhitespace},
	{name: "space before colon", rfc: "RFC 9112 §5.1", in: crlf("GET / HTTP/1.1", "Host : a"), err: ErrSpaceBeforeColon},
	{name: "tab before colon", rfc: "RFC 9112 §5.1", in: crlf("GET / HTTP/1.1", "Host\t: a"), err: ErrSpaceBeforeColon},
	{name: "no colon", rfc: "RFC 9112 §5", in: crlf("GET / HTTP/1.1", "Host: a", "Nocolon"), err: ErrFieldName},
	{name: "empty name", rfc: "RFC 9110 §5.1", in: crlf("GET / HTTP/1.1", "Host: a", ": v"), err: ErrFieldName},
	{name: "non-token name", rfc: "RFC 9110 §5.1", in: crlf("GET / HTTP/1.1", "Host: a", "X(y): v"), err: ErrFieldName},
	{name: "NUL in value", rfc: "RFC 9110 §5.5", in: crlf("GET / HTTP/1.1", "Host: a", "X: a\x00b"), err: ErrFieldValue},
	{name: "DEL in value", rfc: "RFC 9110 §5.5", in: crlf("GET / HTTP/1.1", "Host: a", "X: a\x7fb"), err: ErrFieldValue},
	{name: "CTL in long value (word path)", rfc: "RFC 9110 §5.5", in: crlf("GET / HTTP/1.1", "Host: a", "X: abcdefghijklmnop\x01qrstuvwxyz"), err: ErrFieldValue},
	{name: "HTAB inside value allowed", rfc: "RFC 9110 §5.5", in: crlf("GET / HTTP/1.1", "Host: a", "X: abcdefgh\tijklmnop")},

	// Host.
	{name: "HTTP/1.1 without Host", rfc: "RFC 9112 §3.2", in: crlf("GET / HTTP/1.1", "X: a"), err: ErrMissingHost},
	{name: "two Host lines", rfc: "RFC 9112 §3.2", in: crlf("GET / HTTP/1.1", "Host: a", "Host: a"), err: ErrDuplicateHost},
	{name: "two Host lines in HTTP/1.0", rfc: "RFC 9112 §3.2", in: crlf("GET / HTTP/1.0", "Host: a", "Host: b"), err: ErrDuplicateHost},
	{name: "Host list", rfc: "RFC 9110 §7.2", in: crlf("GET / HTTP/1.1", "Host: a, b"), err: ErrHost},
	{name: "Host with path", rfc: "RFC 9110 §7.2", in: crlf("GET / HTTP/1.1", "Host: a/b"), err: ErrHost},
	{name: "Host with userinfo", rfc: "RFC 9110 §7.2", in: crlf("GET / HTTP/1.1", "Host: u@a"), err: ErrHost},

	// Content-Length (CL.CL, CL.TE, TE.CL smuggling families).
	{name: "CL plus sign", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: +5"), err: ErrContentLength},
	{name: "CL minus sign", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: -5"), err: ErrContentLength},
	{name: "CL hex", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 0x5"), err: ErrContentLength},
	{name: "CL empty", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: "), err: ErrContentLength},
	{name: "CL inner space", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 1 2"), err: ErrContentLength},
	{name: "CL list of equal values rejected", rfc: "RFC 9110 §8.6 (may reject)", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 5"), err: ErrContentLength},
	{name: "CL overflow", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 9223372036854775808"), err: ErrContentLength},
	{name: "CL huge overflow", rfc: "RFC 9110 §8.6", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 99999999999999999999999"), err: ErrContentLength},
	{name: "CL duplicated different", rfc: "RFC 9112 §6.3", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 6"), err: ErrDuplicateContentLength},
	{name: "CL duplicated equal rejected", rfc: "RFC 9110 §8.6 (may reject)", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "content-length: 5"), err: ErrDuplicateContentLength},
	{name: "CL.TE", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"), err: ErrTEAndCL},
	{name: "TE.CL", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"), err: ErrTEAndCL},

	// Transfer-Encoding obfuscations (TE.TE).
	{name: "TE xchunked", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: xchunked"), err: ErrUnknownTransferCoding},
	{name: "TE chunked then identity", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, identity"), err: ErrTransferEncoding},
	{name: "TE identity", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: identity"), err: ErrUnknownTransferCoding},
	{name: "TE gzip only", rfc: "RFC 9112 §6.3", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip"), err: ErrTransferEncoding},
	{name: "TE chunked twice", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, chunked"), err: ErrTransferEncoding},
	{name: "TE chunked twice across lines", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), err: ErrTransferEncoding},
	{name: "TE leading space in name line", rfc: "RFC 9112 §5.2", in: crlf("POST / HTTP/1.1", "Host: a", " Transfer-Encoding: chunked"), err: ErrObsFold},
	{name: "TE leading space first field", rfc: "RFC 9112 §2.2", in: crlf("POST / HTTP/1.1", " Transfer-Encoding: chunked", "Host: a"), err: ErrLeadingWhitespace},
	{name: "TE space before colon", rfc: "RFC 9112 §5.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding : chunked"), err: ErrSpaceBeforeColon},
	{name: "TE NUL in value", rfc: "RFC 9110 §5.5", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked\x00"), err: ErrFieldValue},
	{name: "TE vertical tab", rfc: "RFC 9110 §5.5", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: \x0bchunked"), err: ErrFieldValue},
	{name: "TE chunked with params", rfc: "RFC 9112 §7", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked;q=1"), err: ErrTransferEncoding},
	{name: "TE empty", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding:"), err: ErrTransferEncoding},
	{name: "TE empty element", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: ,chunked"), err: ErrTransferEncoding},
	{name: "TE trailing comma", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked,"), err: ErrTransferEncoding},
	{name: "TE quoted chunked", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.1", "Host: a", `Transfer-Encoding: "chunked"`), err: ErrTransferEncoding},
	{name: "TE in HTTP/1.0", rfc: "RFC 9112 §6.1", in: crlf("POST / HTTP/1.0", "Transfer-Encoding: chunked"), err: ErrTransferEncoding},

	// Expect.
	{name: "Expect other", rfc: "RFC 9110 §10.1.1", in: crlf("GET / HTTP/1.1", "Host: a", "Expect: 200-ok"), err: ErrExpectation},
	{name: "Expect with param", rfc: "RFC 9110 §10.1.1", in: crlf("GET / HTTP/1.1", "Host: a", "Expect: 100-continue;x"), err: ErrExpectation},
	{name: "Connection non-token", rfc: "RFC 9110 §7.6.1", in: crlf("GET / HTTP/1.1", "Host: a", "Connection: a b"), err: ErrFieldValue},
}

func want(t *testing.T, ok bool, what string) {
	t.Helper()
	if !ok {
		t.Errorf("%s: not as expected", what)
	}
}

func wantStr(t *testing.T, what string, got []byte, w string) {
	t.Helper()
	if string(got) != w {
		t.Errorf("%s = %q, want %q", what, got, w)
	}
}

func TestRequestConformance(t *testing.T) {
	for _, tc := range requestCases {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			var r Request
			r.Reset()
			n, err := r.Parse(buf)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("%s: Parse error = %v, want %v", tc.rfc, err, tc.err)
			}
			if tc.err != nil {
				if n != 0 {
					t.Fatalf("n = %d with error", n)
				}
				if StatusOf(err) != tc.err.(*Error).Status {
					t.Fatalf("StatusOf = %d", StatusOf(err))
				}
				checkSplitsRequest(t, buf, &r, err)
				return
			}
			if n != len(buf) || r.HeadLen != n {
				t.Fatalf("n = %d, HeadLen = %d, want %d", n, r.HeadLen, len(buf))
			}
			if tc.check != nil {
				tc.check(t, buf, &r)
			}
			checkSplitsRequest(t, buf, &r, nil)
		})
	}
}

// checkSplitsRequest feeds buf one growing prefix at a time, each in a fresh
// backing array (as a caller that reallocates would), and checks that the
// result matches the one-shot parse: same error, or the same Request.
func checkSplitsRequest(t *testing.T, buf []byte, whole *Request, wholeErr error) {
	t.Helper()
	var r Request
	r.Reset()
	for i := 0; i <= len(buf); i++ {
		prefix := append([]byte(nil), buf[:i]...)
		n, err := r.Parse(prefix)
		if err != nil {
			if !errors.Is(err, wholeErr) || wholeErr == nil {
				t.Fatalf("prefix %d: error %v, one-shot error %v", i, err, wholeErr)
			}
			return
		}
		if n > 0 {
			if n != whole.HeadLen {
				t.Fatalf("prefix %d: n = %d, one-shot %d", i, n, whole.HeadLen)
			}
			break
		}
	}
	if wholeErr != nil {
		t.Fatalf("split parse accepted what one-shot refused with %v", wholeErr)
	}
	if !sameRequest(&r, whole) {
		t.Fatalf("split parse differs:\n%+v\n%+v", &r, whole)
	}
}

func sameRequest(a, b *Request) bool {
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i] != b.Fields[i] {
			return false
		}
	}
	type facts struct {
		Method                                                  Method
		MethodName, Target, Path, Query, Authority, Host, Proto Span
		HasQuery, HasHost, Chunked, KeepAlive, Upgrade, Expect  bool
		Form                                                    TargetForm
		Major, Minor                                            uint8
		HeadLen                                                 int
		ContentLength                                           int64
	}
	of := func(r *Request) facts {
		return facts{r.Method, r.MethodName, r.Target, r.Path, r.Query, r.Authority, r.Host, r.UpgradeProto,
			r.HasQuery, r.HasHost, r.Chunked, r.KeepAlive, r.Upgrade, r.ExpectContinue,
			r.Form, r.Major, r.Minor, r.HeadLen, r.ContentLength}
	}
	return of(a) == of(b)
}

func TestRealRequests(t *testing.T) {
	for _, s := range realRequests {
		buf := []byte(s)
		var r Request
		r.Reset()
		n, err := r.Parse(buf)
		if err != nil || n != len(buf) {
			t.Fatalf("%q: n=%d err=%v", s, n, err)
		}
		checkSplitsRequest(t, buf, &r, nil)
		out := AppendRequestHead(nil, buf, &r, nil)
		var back Request
		back.Reset()
		if _, err := back.Parse(out); err != nil {
			t.Fatalf("serialized %q: %v", out, err)
		}
		if back.Method != r.Method || back.Form == FormAbsolute || back.Chunked != r.Chunked || back.ContentLength != r.ContentLength {
			t.Fatalf("serialized head changed the request: %q", out)
		}
	}
}

func TestRequestLimits(t *testing.T) {
	long := strings.Repeat("a", 200)
	cases := []struct {
		name   string
		limits Limits
		in     string
		err    error
	}{
		{"request-line at limit", Limits{MaxRequestLine: len("GET /" + long + " HTTP/1.1")}, crlf("GET /"+long+" HTTP/1.1", "Host: a"), nil},
		{"request-line over limit", Limits{MaxRequestLine: len("GET /"+long+" HTTP/1.1") - 1}, crlf("GET /"+long+" HTTP/1.1", "Host: a"), ErrRequestLineTooLong},
		{"request-line over limit, incomplete", Limits{MaxRequestLine: 50}, "GET /" + long, ErrRequestLineTooLong},
		{"field line at limit", Limits{MaxFieldLine: len("X: " + long)}, crlf("GET / HTTP/1.1", "Host: a", "X: "+long), nil},
		{"field line over limit", Limits{MaxFieldLine: len("X: "+long) - 1}, crlf("GET / HTTP/1.1", "Host: a", "X: "+long), ErrFieldTooLarge},
		{"field line over limit, incomplete", Limits{MaxFieldLine: 50}, "GET / HTTP/1.1\r\nX: " + long, ErrFieldTooLarge},
		{"fields at limit", Limits{MaxFields: 3}, crlf("GET / HTTP/1.1", "Host: a", "A: 1", "B: 2"), nil},
		{"too many fields", Limits{MaxFields: 2}, crlf("GET / HTTP/1.1", "Host: a", "A: 1", "B: 2"), ErrTooManyFields},
		{"head at limit", Limits{MaxHeadBytes: len(crlf("GET / HTTP/1.1", "Host: a"))}, crlf("GET / HTTP/1.1", "Host: a"), nil},
		{"head over limit", Limits{MaxHeadBytes: len(crlf("GET / HTTP/1.1", "Host: a")) - 1}, crlf("GET / HTTP/1.1", "Host: a"), ErrHeadTooLarge},
		{"head over limit, incomplete", Limits{MaxHeadBytes: 64}, "GET / HTTP/1.1\r\nHost: a\r\nX: " + long, ErrHeadTooLarge},
		{"leading CRLFs count toward head", Limits{MaxHeadBytes: 40}, strings.Repeat("\r\n", 20) + crlf("GET / HTTP/1.1", "Host: a"), ErrHeadTooLarge},
		{"default head limit", Limits{}, "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: "+long+"\r\n", 90), ErrHeadTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Limits: tc.limits}
			r.Reset()
			_, err := r.Parse([]byte(tc.in))
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
			if r.Limits != tc.limits {
				t.Fatalf("Reset lost Limits")
			}
		})
	}
}

func TestRequestIncompleteAndBodyBytes(t *testing.T) {
	head := crlf("POST /x HTTP/1.1", "Host: a", "Content-Length: 3")
	buf := []byte(head + "abcGET / HTTP/1.1\r\n")
	var r Request
	r.Reset()
	n, err := r.Parse(buf)
	if err != nil || n != len(head) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	// Parse again returns the same length without work.
	if n2, err := r.Parse(buf); n2 != n || err != nil {
		t.Fatalf("second Parse = %d, %v", n2, err)
	}
	// Reuse: the pipelined next request.
	r.Reset()
	if n, err := r.Parse(buf[len(head)+3:]); n != 0 || err != nil {
		t.Fatalf("incomplete = %d, %v", n, err)
	}
}

func TestRequestErrorIsSticky(t *testing.T) {
	var r Request
	r.Reset()
	_, err := r.Parse([]byte("GET / HTTP/1.1\nHost: a\r\n\r\n"))
	if !errors.Is(err, ErrBareLF) {
		t.Fatal(err)
	}
	if _, err2 := r.Parse([]byte(crlf("GET / HTTP/1.1", "Host: a"))); err2 != err {
		t.Fatalf("error not sticky: %v", err2)
	}
	r.Reset()
	if _, err := r.Parse([]byte(crlf("GET / HTTP/1.1", "Host: a"))); err != nil {
		t.Fatalf("after Reset: %v", err)
	}
}

func TestRequestBufferShrankIsAnError(t *testing.T) {
	var r Request
	r.Reset()
	if n, err := r.Parse([]byte("GET /long/path HTTP/1")); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	if _, err := r.Parse([]byte("GET")); !errors.Is(err, ErrBufferShrank) || StatusOf(err) != 500 {
		t.Fatalf("shrunk buffer: %v", err)
	}
}

func TestMethod(t *testing.T) {
	for m := MethodOther; m <= MethodPATCH; m++ {
		if m != MethodOther && lookupMethod([]byte(m.String())) != m {
			t.Errorf("lookupMethod(%q) != %v", m.String(), m)
		}
	}
	idem := map[Method]bool{MethodGET: true, MethodHEAD: true, MethodPUT: true, MethodDELETE: true, MethodOPTIONS: true, MethodTRACE: true}
	for m := MethodOther; m <= MethodPATCH; m++ {
		if m.Idempotent() != idem[m] {
			t.Errorf("%v.Idempotent() = %v", m, m.Idempotent())
		}
	}
}
