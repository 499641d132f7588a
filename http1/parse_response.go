package http1

// BodyKind says how a response body is delimited (RFC 9112 §6.3).
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // no body bytes follow the head
	BodyLength                     // ContentLength bytes follow
	BodyChunked                    // a chunked body follows (ChunkedDecoder)
	BodyUntilClose                 // the body runs until the upstream closes
)

// String returns the kind's name.
func (k BodyKind) String() string {
	switch k {
	case BodyNone:
		return "none"
	case BodyLength:
		return "length"
	case BodyChunked:
		return "chunked"
	case BodyUntilClose:
		return "until-close"
	}
	return "unknown"
}

// Response is a parsed response head. Every Span indexes the buffer passed
// to Parse. A Response is reusable through Reset and is not safe for
// concurrent use.
type Response struct {
	Limits        Limits // set by the caller; kept by Reset. MaxRequestLine bounds the status-line.
	Major, Minor  uint8
	Status        int
	Reason        Span
	Fields        []Field
	HeadLen       int
	ContentLength int64 // -1 when absent (the field's value even when Body is BodyNone)
	// Body follows RFC 9112 §6.3: 1xx, 204, 304 and responses to HEAD:
	// BodyNone; 2xx to CONNECT: BodyNone (the tunnel starts); then
	// Transfer-Encoding ending in chunked: BodyChunked, other
	// Transfer-Encoding: BodyUntilClose; then Content-Length: BodyLength
	// (BodyNone when it is 0); else BodyUntilClose.
	Body BodyKind
	// KeepAlive: the upstream connection may be reused after this response
	// (version default and Connection options; never with BodyUntilClose).
	KeepAlive bool
	Upgrade   bool // 101 Switching Protocols

	reqMethod Method // of the request this answers, for finish
	st        parseState

	_ noCopy
}

// Reset clears r for the next response, keeping Limits and the capacity of Fields.
func (r *Response) Reset() {
	*r = Response{
		Limits:        r.Limits,
		Fields:        r.Fields[:0],
		ContentLength: -1,
		st:            parseState{meta: r.st.meta[:0]},
	}
}

// Parse parses the response head at the start of buf; reqMethod is the
// method of the request it answers (HEAD and CONNECT change the body rules).
// The contract is Request.Parse's: (head length, nil) when complete, (0, nil)
// when more bytes are needed, else an error. Errors are the request-side
// sentinels' upstream twins: errors.Is matches the sentinel, StatusOf gives 502.
// The status-line is bounded by Limits.MaxRequestLine. Empty lines before
// the status-line are not skipped (ErrBadStatusLine).
//
// A 1xx response is complete by itself: the caller parses the final response
// after it (Reset, then Parse on the following bytes).
func (r *Response) Parse(buf []byte, reqMethod Method) (int, error) {
	r.reqMethod = reqMethod
	n, err := r.st.parse(buf, r.Limits, &r.Fields, r, false)
	r.HeadLen = n
	if err != nil {
		return 0, AsUpstream(err)
	}
	return n, nil
}

// startLine implements message.
func (r *Response) startLine(buf []byte, start, crAt int) error {
	return r.parseStatusLine(buf, start, crAt)
}

// parseStatusLine parses HTTP-version SP 3DIGIT SP [reason-phrase]
// (RFC 9112 §4). The SP after the code may be missing when the reason is
// empty: real servers send "HTTP/1.1 200\r\n" and RFC 9112 §4 asks
// recipients to accept an empty reason.
func (r *Response) parseStatusLine(buf []byte, start, crAt int) error {
	line := buf[start:crAt]
	if len(line) < 12 || line[8] != sp {
		return ErrBadStatusLine
	}
	major, minor, ok, supported := parseVersion(line[:8])
	if !ok {
		return ErrBadStatusLine
	}
	if !supported {
		return ErrVersion
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return ErrBadStatusLine
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || status > 599 {
		return ErrBadStatusLine
	}
	rs := start + 12
	if len(line) > 12 {
		if line[12] != sp {
			return ErrBadStatusLine
		}
		rs++
		for _, c := range buf[rs:crAt] {
			if charClass[c]&classReason == 0 {
				if c == cr {
					return ErrBareCR
				}
				return ErrBadStatusLine
			}
		}
	}
	r.Major, r.Minor, r.Status = major, minor, status
	r.Reason = span(rs, crAt)
	return nil
}

// finish applies the body-length rules of RFC 9112 §6.3.
func (r *Response) finish() error {
	reqMethod := r.reqMethod
	s := &r.st
	r.ContentLength = -1
	if s.sawCL {
		r.ContentLength = s.contentLength
	}
	if s.sawTE && s.sawCL {
		// RFC 9112 §6.3 item 3: "ought to be handled as an error" by a proxy.
		return ErrTEAndCL
	}
	r.KeepAlive = s.keepAlive(r.Major, r.Minor)
	r.Upgrade = r.Status == 101
	switch {
	case r.Status < 200 || r.Status == 204 || r.Status == 304 || reqMethod == MethodHEAD:
		r.Body = BodyNone
	case reqMethod == MethodCONNECT && r.Status < 300:
		r.Body = BodyNone
	case s.sawTE && s.teChunked:
		r.Body = BodyChunked
		if r.Minor == 0 {
			// RFC 9112 §6.1: chunked in HTTP/1.0 means faulty framing; close after.
			r.KeepAlive = false
		}
	case s.sawTE:
		r.Body = BodyUntilClose
	case s.sawCL && s.contentLength > 0:
		r.Body = BodyLength
	case s.sawCL:
		r.Body = BodyNone
	default:
		r.Body = BodyUntilClose
	}
	if r.Body == BodyUntilClose {
		r.KeepAlive = false
	}
	return nil
}

// Field returns the value of the first field named name (ASCII
// case-insensitive), without allocating. The Span indexes buf.
func (r *Response) Field(buf []byte, name string) (Span, bool) {
	return lookupField(buf, r.Fields, name)
}
