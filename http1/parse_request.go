package http1

// Request is a parsed request head. Every Span indexes the buffer passed to
// Parse; the Request holds no bytes of its own, so the caller may move the
// head (keeping offsets) and go on using the Spans.
//
// A Request is reusable through Reset and is not safe for concurrent use.
type Request struct {
	Limits     Limits // set by the caller; kept by Reset
	Method     Method
	MethodName Span
	Target     Span // request-target as sent
	// Path: origin-form: the path; absolute-form: its path (may be empty,
	// meaning "/"); asterisk-form: "*"; authority-form: empty.
	Path      Span
	Query     Span // after '?', without the '?'
	HasQuery  bool
	Authority Span // absolute-form and authority-form: the authority from the target
	Form      TargetForm
	// Major, Minor: only 1.0 and 1.1 are accepted; others are ErrVersion (505).
	Major, Minor uint8
	Fields       []Field // in order; capacity reused across Reset
	HeadLen      int     // bytes of the head including the final CRLF CRLF (and any leading CRLFs)
	// Host is the Host field value (for absolute-form, still the field);
	// valid when HasHost.
	Host          Span
	HasHost       bool
	ContentLength int64 // -1 when absent
	Chunked       bool
	// KeepAlive: the connection persists after this exchange: HTTP/1.1
	// unless Connection: close; HTTP/1.0 only with Connection: keep-alive.
	KeepAlive bool
	// Upgrade: Connection has the "upgrade" option AND an Upgrade field is
	// present (HTTP/1.1 only; RFC 9110 §7.8 says to ignore it in 1.0).
	Upgrade      bool
	UpgradeProto Span // the (first) Upgrade field value
	// ExpectContinue: Expect: 100-continue in an HTTP/1.1 request (RFC 9110
	// §10.1.1 says to ignore it in 1.0). Other Expect values are ErrExpectation.
	ExpectContinue bool

	st parseState

	_ noCopy
}

// Reset clears r for the next request, keeping Limits and the capacity of Fields.
func (r *Request) Reset() {
	*r = Request{
		Limits:        r.Limits,
		Fields:        r.Fields[:0],
		ContentLength: -1,
		st:            parseState{meta: r.st.meta[:0]},
	}
}

// Parse parses the request head at the start of buf. It returns the head
// length once the head is complete, (0, nil) when more bytes are needed, or
// an error (see errors.go; StatusOf gives the status to answer).
//
// Between calls buf may only grow: the caller appends, the already-parsed
// prefix is unchanged and may sit in a different backing array. Parse
// resumes where it stopped and never rescans accepted lines. All Spans
// index into buf. After the head is complete, Parse returns HeadLen again;
// after an error it returns the same error until Reset.
//
// Leading empty lines (CRLF) before the request-line are skipped, as RFC 9112
// §2.2 allows; they count toward MaxHeadBytes and HeadLen. A leading bare LF
// is ErrBareLF.
//
// A fresh zero Request needs no Reset before its first Parse.
func (r *Request) Parse(buf []byte) (int, error) {
	n, err := r.st.parse(buf, r.Limits, &r.Fields, r, true)
	r.HeadLen = n
	return n, err
}

// startLine implements message.
func (r *Request) startLine(buf []byte, start, crAt int) error {
	return r.parseRequestLine(buf, start, crAt)
}

// parseRequestLine parses method SP request-target SP HTTP-version in
// buf[start:crAt] (RFC 9112 §3), with exactly one SP between the parts.
func (r *Request) parseRequestLine(buf []byte, start, crAt int) error {
	i := start
	for i < crAt && charClass[buf[i]]&classToken != 0 {
		i++
	}
	if i == start || i == crAt || buf[i] != sp {
		return ErrBadRequestLine
	}
	r.MethodName = span(start, i)
	r.Method = lookupMethod(buf[start:i])
	ts := i + 1
	j := ts
	for j < crAt && charClass[buf[j]]&classTarget != 0 {
		j++
	}
	if j == ts || j == crAt || buf[j] != sp {
		return ErrBadRequestLine
	}
	r.Target = span(ts, j)
	major, minor, ok, supported := parseVersion(buf[j+1 : crAt])
	if !ok {
		return ErrBadRequestLine
	}
	if !supported {
		return ErrVersion
	}
	r.Major, r.Minor = major, minor
	return r.parseTarget(buf, ts, j)
}

// parseTarget sorts the request-target buf[ts:te] into its form (RFC 9112
// §3.2) and records Path, Query and Authority.
func (r *Request) parseTarget(buf []byte, ts, te int) error {
	switch {
	case buf[ts] == '/':
		if r.Method == MethodCONNECT {
			return ErrBadRequestLine
		}
		r.Form = FormOrigin
		r.splitPathQuery(buf, ts, te)
		return nil
	case r.Method == MethodCONNECT:
		if !validAuthorityForm(buf[ts:te]) {
			return ErrBadRequestLine
		}
		r.Form = FormAuthority
		r.Authority = span(ts, te)
		return nil
	case te-ts == 1 && buf[ts] == '*':
		if r.Method != MethodOPTIONS {
			return ErrBadRequestLine
		}
		r.Form = FormAsterisk
		r.Path = span(ts, te)
		return nil
	}
	// absolute-form: scheme "://" authority path-abempty [ "?" query ]
	i := ts
	for i < te && charClass[buf[i]]&classScheme != 0 {
		i++
	}
	if i == ts || !isAlpha(buf[ts]) || te-i < 3 || buf[i] != ':' || buf[i+1] != '/' || buf[i+2] != '/' {
		return ErrBadRequestLine
	}
	as := i + 3
	ae := as
	for ae < te && buf[ae] != '/' && buf[ae] != '?' {
		if charClass[buf[ae]]&classHost == 0 { // includes '@': userinfo is refused (RFC 9110 §4.2.4)
			return ErrBadRequestLine
		}
		ae++
	}
	if ae == as {
		return ErrBadRequestLine
	}
	r.Form = FormAbsolute
	r.Authority = span(as, ae)
	r.splitPathQuery(buf, ae, te)
	return nil
}

func (r *Request) splitPathQuery(buf []byte, ps, te int) {
	for i := ps; i < te; i++ {
		if buf[i] == '?' {
			r.Path = span(ps, i)
			r.Query = span(i+1, te)
			r.HasQuery = true
			return
		}
	}
	r.Path = span(ps, te)
}

// validAuthorityForm reports whether a is uri-host ":" port (RFC 9112 §3.2.3).
func validAuthorityForm(a []byte) bool {
	colon := -1
	for i, c := range a {
		if charClass[c]&classHost == 0 {
			return false
		}
		if c == ':' {
			colon = i
		}
	}
	if colon <= 0 || colon == len(a)-1 {
		return false
	}
	for _, c := range a[colon+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// finish applies the rules that need the whole head (RFC 9112 §3.2, §6).
func (r *Request) finish() error {
	s := &r.st
	if s.hostCount == 0 && r.Minor == 1 {
		return ErrMissingHost
	}
	r.HasHost = s.hostCount > 0
	r.Host = s.host
	r.ContentLength = -1
	if s.sawCL {
		r.ContentLength = s.contentLength
	}
	if s.sawTE {
		if r.Minor == 0 {
			return ErrTransferEncoding
		}
		if s.sawCL {
			return ErrTEAndCL
		}
		if !s.teChunked {
			return ErrTransferEncoding
		}
		r.Chunked = true
	}
	r.KeepAlive = s.keepAlive(r.Major, r.Minor)
	r.UpgradeProto = s.upgradeProto
	r.Upgrade = r.Minor == 1 && s.connUpgrade && s.upgradeField
	r.ExpectContinue = r.Minor == 1 && s.expect
	return nil
}

// Field returns the value of the first field named name (ASCII
// case-insensitive), without allocating. The Span indexes buf.
func (r *Request) Field(buf []byte, name string) (Span, bool) {
	return lookupField(buf, r.Fields, name)
}

// HasBody reports whether a body follows the head: Chunked || ContentLength > 0.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }
