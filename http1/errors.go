package http1

// Error is the error type of every failure in this package. Status is the HTTP
// status the engine should answer with; Msg is the text Error returns.
//
// Errors are package-level sentinels: compare them with errors.Is. A request
// parse failure carries a 4xx/5xx status for the client (400, 414, 417, 431,
// 501, 505). Response.Parse returns the "upstream twin" of the same sentinel:
// errors.Is matches the sentinel, but Status is 502 (Bad Gateway), because a
// malformed upstream response is the gateway's failure, not the client's.
//
// Errors are immutable and safe for concurrent use.
type Error struct {
	Status int
	Msg    string

	id       uint16 // shared by a sentinel and its upstream twin; errors.Is compares it
	upstream *Error // the 502 twin of a request-side sentinel
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

// Is reports whether target is the same sentinel as e (the upstream twin of a
// sentinel matches the sentinel and vice versa).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.id == e.id
}

// StatusOf returns the HTTP status the engine should answer for err: the
// Status of an *Error (502 for errors from Response.Parse), 400 for any other
// non-nil error, and 200 for nil.
func StatusOf(err error) int {
	if err == nil {
		return 200
	}
	if e, ok := err.(*Error); ok {
		return e.Status
	}
	return 400
}

var errorCount uint16

func newError(status int, msg string) *Error {
	errorCount++
	e := &Error{Status: status, Msg: msg, id: errorCount}
	e.upstream = &Error{Status: 502, Msg: "upstream response: " + msg, id: errorCount}
	return e
}

// AsUpstream returns the upstream twin of a sentinel: the same error for
// errors.Is, with Status 502. The engine uses it for errors met while reading
// an upstream's response body (ChunkedDecoder returns request-side statuses).
// Other errors are returned unchanged.
func AsUpstream(err error) error {
	if e, ok := err.(*Error); ok && e.upstream != nil {
		return e.upstream
	}
	return err
}

// Request line and status line.
var (
	// ErrBadRequestLine: the request-line is not method SP request-target SP
	// HTTP-version CRLF with single spaces (RFC 9112 §3), the method is not a
	// token, or the target does not fit its form (RFC 9112 §3.2): e.g. "*"
	// with a method other than OPTIONS, authority-form without CONNECT, a
	// fragment or a non-visible byte in the target.
	ErrBadRequestLine = newError(400, "http1: malformed request-line")
	// ErrRequestLineTooLong: the request-line is longer than Limits.MaxRequestLine.
	ErrRequestLineTooLong = newError(414, "http1: request-line too long")
	// ErrVersion: a well-formed HTTP-version other than HTTP/1.0 or HTTP/1.1.
	ErrVersion = newError(505, "http1: HTTP version not supported")
	// ErrBadStatusLine: the status-line is not HTTP-version SP 3DIGIT [SP
	// reason-phrase] CRLF, or the status is outside 100..599 (RFC 9112 §4).
	ErrBadStatusLine = newError(400, "http1: malformed status-line")
)

// Line framing and field syntax (RFC 9112 §2.2, §5).
var (
	// ErrBareLF: a line ends in LF without CR (RFC 9112 §2.2; we do not accept
	// bare LF as a terminator).
	ErrBareLF = newError(400, "http1: bare LF")
	// ErrBareCR: a CR not followed by LF inside a head (RFC 9112 §2.2).
	ErrBareCR = newError(400, "http1: bare CR")
	// ErrObsFold: a field line starts with SP or HTAB (obs-fold, RFC 9112 §5.2).
	ErrObsFold = newError(400, "http1: obsolete line folding")
	// ErrLeadingWhitespace: whitespace between the start-line and the first
	// field line (RFC 9112 §2.2).
	ErrLeadingWhitespace = newError(400, "http1: whitespace before the first field")
	// ErrSpaceBeforeColon: whitespace between a field name and its colon (RFC 9112 §5.1).
	ErrSpaceBeforeColon = newError(400, "http1: whitespace before colon")
	// ErrFieldName: a field name is empty or holds a non-token byte, or the
	// line has no colon (RFC 9110 §5.1).
	ErrFieldName = newError(400, "http1: invalid field name")
	// ErrFieldValue: a field value holds NUL or another CTL other than HTAB,
	// or DEL (RFC 9110 §5.5).
	ErrFieldValue = newError(400, "http1: invalid field value")
)

// Misuse.
var (
	// ErrBufferShrank: Parse got fewer bytes than it had already scanned;
	// the caller broke the "buf may only grow" contract. A 500, because it
	// is the gateway's bug, refused rather than a panic on the event loop.
	ErrBufferShrank = newError(500, "http1: buffer shorter than already parsed")
)

// Size limits (Limits).
var (
	// ErrHeadTooLarge: the head is longer than Limits.MaxHeadBytes.
	ErrHeadTooLarge = newError(431, "http1: head too large")
	// ErrFieldTooLarge: one field line is longer than Limits.MaxFieldLine.
	ErrFieldTooLarge = newError(431, "http1: field line too large")
	// ErrTooManyFields: more than Limits.MaxFields field lines.
	ErrTooManyFields = newError(431, "http1: too many fields")
)

// Field semantics.
var (
	// ErrMissingHost: an HTTP/1.1 request without a Host field (RFC 9112 §3.2).
	ErrMissingHost = newError(400, "http1: missing Host")
	// ErrDuplicateHost: more than one Host field line (RFC 9112 §3.2).
	ErrDuplicateHost = newError(400, "http1: duplicate Host")
	// ErrHost: the Host value holds bytes no uri-host [":" port] can hold
	// (RFC 9110 §7.2), e.g. "/", "@", SP or a comma.
	ErrHost = newError(400, "http1: invalid Host")
	// ErrContentLength: a Content-Length value that is not 1*DIGIT after OWS
	// trimming (this includes "+5", "-5", "0x5" and lists such as "5, 5", which
	// we reject), or that overflows int64 (RFC 9112 §6.3).
	ErrContentLength = newError(400, "http1: invalid Content-Length")
	// ErrDuplicateContentLength: Content-Length appears in more than one field
	// line, even with equal values (RFC 9110 §8.6 permits rejecting).
	ErrDuplicateContentLength = newError(400, "http1: duplicate Content-Length")
	// ErrTEAndCL: both Transfer-Encoding and Content-Length (RFC 9112 §6.1:
	// "ought to be handled as an error"; a classic smuggling vector).
	ErrTEAndCL = newError(400, "http1: Transfer-Encoding with Content-Length")
	// ErrTransferEncoding: Transfer-Encoding whose final coding is not chunked
	// in a request, chunked applied twice, an empty list element, or
	// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1, §6.3).
	ErrTransferEncoding = newError(400, "http1: invalid Transfer-Encoding")
	// ErrUnknownTransferCoding: a transfer coding we do not know (RFC 9112 §6.1: 501).
	ErrUnknownTransferCoding = newError(501, "http1: unknown transfer coding")
	// ErrExpectation: an Expect value other than 100-continue (RFC 9110 §10.1.1: 417).
	ErrExpectation = newError(417, "http1: unsupported expectation")
)

// Chunked transfer coding (RFC 9112 §7.1).
var (
	// ErrChunkSize: a chunk-size that is empty, not hex, has leading or
	// trailing junk, or exceeds 2^63-1.
	ErrChunkSize = newError(400, "http1: invalid chunk size")
	// ErrChunkExtension: chunk extensions longer than MaxExtension or outside
	// the chunk-ext grammar (RFC 9112 §7.1.1), e.g. a CTL, a bare '=' or an
	// unterminated quoted-string.
	ErrChunkExtension = newError(400, "http1: invalid chunk extension")
	// ErrChunkFraming: chunk data not followed by CRLF, or a chunk line ending
	// in a bare CR or LF.
	ErrChunkFraming = newError(400, "http1: invalid chunk framing")
	// ErrTrailersTooLarge: the trailer section is longer than MaxTrailers.
	ErrTrailersTooLarge = newError(431, "http1: trailer section too large")
)
