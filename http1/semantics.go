package http1

import "math"

// This file gives meaning to the fields the parsers record while parsing
// (RFC 9110, RFC 9112): Host, Content-Length, Transfer-Encoding, Connection,
// Upgrade and Expect.

// onField records what field f of kind k means for framing and connection
// handling in s. request selects the request-only rules (Host, Expect).
func (s *parseState) onField(buf []byte, f Field, k fieldKind, request bool) error {
	v := f.Value.In(buf)
	switch k {
	case kindHost:
		if !request {
			return nil
		}
		s.hostCount++
		if s.hostCount > 1 {
			return ErrDuplicateHost
		}
		for _, c := range v {
			if charClass[c]&classHost == 0 {
				return ErrHost
			}
		}
		s.host = f.Value
	case kindContentLength:
		if s.sawCL {
			return ErrDuplicateContentLength
		}
		n, ok := parseContentLength(v)
		if !ok {
			return ErrContentLength
		}
		s.sawCL = true
		s.contentLength = n
	case kindTransferEncoding:
		s.sawTE = true
		return s.transferCodings(v)
	case kindConnection:
		return s.connectionOptions(v)
	case kindUpgrade:
		if !s.upgradeField {
			s.upgradeField = true
			s.upgradeProto = f.Value
		}
	case kindExpect:
		if !request {
			return nil
		}
		if !equalFold(v, "100-continue") {
			return ErrExpectation
		}
		s.expect = true
	}
	return nil
}

// parseContentLength parses 1*DIGIT into an int64 (RFC 9110 §8.6). Signs,
// hex, lists and anything but digits are rejected, as is overflow.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// transferCodings checks one Transfer-Encoding field value, a list of
// transfer-coding [params] (RFC 9112 §6.1, §7). Lists continue across field
// lines, so the state lives in s. chunked must be the final coding and
// appear once: any coding after it is an error. Unknown codings are
// ErrUnknownTransferCoding (501). Empty list elements are rejected: a
// Transfer-Encoding that parsers might read differently is a smuggling risk.
func (s *parseState) transferCodings(v []byte) error {
	if len(v) == 0 || v[len(v)-1] == ',' {
		return ErrTransferEncoding
	}
	for len(v) > 0 {
		var elem []byte
		elem, v = nextListElement(v)
		if len(elem) == 0 {
			return ErrTransferEncoding
		}
		if s.teChunked {
			return ErrTransferEncoding
		}
		coding := elem
		params := false
		for i, c := range elem {
			if c == ';' || c == sp || c == ht {
				coding, params = elem[:i], true
				break
			}
		}
		switch {
		case equalFold(coding, "chunked"):
			if params {
				return ErrTransferEncoding
			}
			s.teChunked = true
		case equalFold(coding, "gzip"), equalFold(coding, "x-gzip"),
			equalFold(coding, "deflate"), equalFold(coding, "compress"),
			equalFold(coding, "x-compress"):
		default:
			for _, c := range coding {
				if charClass[c]&classToken == 0 {
					return ErrTransferEncoding
				}
			}
			return ErrUnknownTransferCoding
		}
	}
	return nil
}

// connectionOptions records the options of one Connection field value
// (RFC 9110 §7.6.1): close, keep-alive, upgrade, or names of other
// hop-by-hop fields. Empty list elements are ignored (RFC 9110 §5.6.1);
// a non-token option is ErrFieldValue.
func (s *parseState) connectionOptions(v []byte) error {
	for len(v) > 0 {
		var opt []byte
		opt, v = nextListElement(v)
		if len(opt) == 0 {
			continue
		}
		for _, c := range opt {
			if charClass[c]&classToken == 0 {
				return ErrFieldValue
			}
		}
		switch {
		case equalFold(opt, "close"):
			s.connClose = true
		case equalFold(opt, "keep-alive"):
			s.connKeepAlive = true
		case equalFold(opt, "upgrade"):
			s.connUpgrade = true
		default:
			s.connOther = true
		}
	}
	return nil
}

// nextListElement splits the first element off a comma-separated list
// (RFC 9110 §5.6.1), trimming OWS around it.
func nextListElement(v []byte) (elem, rest []byte) {
	i := 0
	for i < len(v) && v[i] != ',' {
		i++
	}
	elem = trimOWS(v[:i])
	if i < len(v) {
		rest = v[i+1:]
	}
	return elem, rest
}

func trimOWS(v []byte) []byte {
	for len(v) > 0 && (v[0] == sp || v[0] == ht) {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == sp || v[len(v)-1] == ht) {
		v = v[:len(v)-1]
	}
	return v
}

// keepAlive applies RFC 9112 §9.3: HTTP/1.1 persists unless "close";
// HTTP/1.0 persists only with "keep-alive" and without "close".
func (s *parseState) keepAlive(major, minor uint8) bool {
	if s.connClose {
		return false
	}
	if major == 1 && minor == 0 {
		return s.connKeepAlive
	}
	return true
}
