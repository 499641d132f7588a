package http1

import (
	"bytes"
	"encoding/binary"
)

// This file holds what the request and response parsers share: the
// resumable line scanner, field-line syntax, and field classification.

// fieldKind identifies the fields the parsers record and the serializer treats
// specially. Anything else is kindOther.
type fieldKind uint8

const (
	kindOther fieldKind = iota
	kindHost
	kindContentLength
	kindTransferEncoding
	kindConnection
	kindUpgrade
	kindExpect
	kindKeepAlive
	kindProxyConnection
	kindTE
	kindTrailer
	kindXForwardedFor
	kindXForwardedProto
	kindXForwardedHost
)

// fieldMeta is what the parser knows about Fields[i] beyond its Spans: where
// the raw line ends (just past its CRLF), so the serializer can copy the line
// byte for byte, and its kind.
type fieldMeta struct {
	end  uint32
	kind fieldKind
}

// Parser stages.
const (
	stageStart  uint8 = iota // before (or inside) the start-line
	stageFields              // after the start-line, before the empty line
	stageDone                // head complete
	stageFailed              // an error was returned; it is sticky until Reset
)

// parseState is the resumable state shared by Request and Response.
type parseState struct {
	pos     int // start of the next line to parse; everything before is accepted
	headLen int // set when stage is stageDone
	scanned int // buf[pos:scanned] is known to hold no LF
	stage   uint8
	err     error
	meta    []fieldMeta // parallel to Fields

	hostCount     uint8
	sawCL         bool
	sawTE         bool
	teChunked     bool // chunked seen (it must be the final coding)
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	connOther     bool // Connection names fields besides close/keep-alive/upgrade
	upgradeField  bool
	expect        bool

	contentLength int64 // valid when sawCL
	host          Span  // valid when hostCount > 0
	upgradeProto  Span  // the first Upgrade value, valid when upgradeField
}

func (s *parseState) reset() {
	meta := s.meta[:0]
	*s = parseState{meta: meta}
}

func (s *parseState) fail(err error) (int, error) {
	s.stage = stageFailed
	s.err = err
	return 0, err
}

// message is what parse needs from a Request or a Response.
type message interface {
	// startLine parses the request-line or status-line buf[start:crAt].
	startLine(buf []byte, start, crAt int) error
	// finish applies the rules that need the whole head.
	finish() error
}

// parse is the resumable head loop of Request.Parse and Response.Parse: it
// takes complete lines one at a time, hands the start-line to m, parses and
// records field lines into *fields, and calls m.finish at the empty line.
// request selects the request rules: leading empty lines are skipped, Host
// and Expect are checked, and an overlong start-line is ErrRequestLineTooLong.
func (s *parseState) parse(buf []byte, limits Limits, fields *[]Field, m message, request bool) (int, error) {
	switch s.stage {
	case stageDone:
		return s.headLen, nil
	case stageFailed:
		return 0, s.err
	}
	lim := limits.withDefaults()
	startTooLong := ErrBadStatusLine
	if request {
		startTooLong = ErrRequestLineTooLong
	}
	for {
		maxLine, tooLong := lim.MaxFieldLine, ErrFieldTooLarge
		if s.stage == stageStart {
			maxLine, tooLong = lim.MaxRequestLine, startTooLong
		}
		crAt, next, err := s.nextLine(buf, maxLine, lim.MaxHeadBytes, tooLong)
		if err != nil {
			return s.fail(err)
		}
		if crAt < 0 {
			return 0, nil
		}
		start := s.pos
		switch {
		case s.stage == stageStart:
			if crAt == start && request { // empty line before the request-line (RFC 9112 §2.2)
				break
			}
			if err := m.startLine(buf, start, crAt); err != nil {
				return s.fail(err)
			}
			s.stage = stageFields
		case crAt == start: // the empty line ending the head
			s.pos = next
			if err := m.finish(); err != nil {
				return s.fail(err)
			}
			s.headLen = next
			s.stage = stageDone
			return next, nil
		default:
			if len(*fields) >= lim.MaxFields {
				return s.fail(ErrTooManyFields)
			}
			f, err := parseFieldLine(buf, start, crAt, len(*fields) == 0)
			if err != nil {
				return s.fail(err)
			}
			k := classifyField(f.Name.In(buf))
			if err := s.onField(buf, f, k, request); err != nil {
				return s.fail(err)
			}
			*fields = append(*fields, f)
			s.meta = append(s.meta, fieldMeta{end: uint32(next), kind: k})
		}
		s.pos = next
	}
}

// nextLine finds the line starting at s.pos. It returns the index of its CR
// and the offset just past its LF, or crAt = -1 when the line is not complete
// yet. maxLine bounds the line without CRLF; tooLong is returned beyond it.
// It never looks again at bytes it has already searched.
func (s *parseState) nextLine(buf []byte, maxLine, maxHead int, tooLong error) (crAt, next int, err error) {
	from := s.scanned
	if from < s.pos {
		from = s.pos
	}
	if from > len(buf) {
		return -1, 0, ErrBufferShrank
	}
	i := bytes.IndexByte(buf[from:], lf)
	if i < 0 {
		s.scanned = len(buf)
		if len(buf)-s.pos > maxLine+1 {
			return -1, 0, tooLong
		}
		if len(buf) > maxHead {
			return -1, 0, ErrHeadTooLarge
		}
		return -1, 0, nil
	}
	lfAt := from + i
	next = lfAt + 1
	if lfAt == s.pos || buf[lfAt-1] != cr {
		return -1, 0, ErrBareLF
	}
	crAt = lfAt - 1
	if crAt-s.pos > maxLine {
		return -1, 0, tooLong
	}
	if next > maxHead {
		return -1, 0, ErrHeadTooLarge
	}
	return crAt, next, nil
}

// parseFieldLine parses the field line buf[start:cr] (start < cr).
// first tells whether it is the first field line, where a leading SP/HTAB
// is ErrLeadingWhitespace rather than ErrObsFold.
func parseFieldLine(buf []byte, start, crAt int, first bool) (Field, error) {
	line := buf[start:crAt] // non-empty; indexing line lets the compiler drop bounds checks
	if c := line[0]; c == sp || c == ht {
		if first {
			return Field{}, ErrLeadingWhitespace
		}
		return Field{}, ErrObsFold
	}
	colon := 0
	for colon < len(line) && charClass[line[colon]]&classToken != 0 {
		colon++
	}
	if colon == len(line) || colon == 0 {
		return Field{}, ErrFieldName
	}
	if c := line[colon]; c != ':' {
		if c == sp || c == ht {
			return Field{}, ErrSpaceBeforeColon
		}
		if c == cr {
			return Field{}, ErrBareCR
		}
		return Field{}, ErrFieldName
	}
	value := line[colon+1:]
	if err := checkFieldValue(value); err != nil {
		return Field{}, err
	}
	vs, ve := 0, len(value)
	for vs < ve && (value[vs] == sp || value[vs] == ht) {
		vs++
	}
	for ve > vs && (value[ve-1] == sp || value[ve-1] == ht) {
		ve--
	}
	off := start + colon + 1
	return Field{Name: span(start, start+colon), Value: span(off+vs, off+ve)}, nil
}

// checkFieldValue reports ErrBareCR or ErrFieldValue if v holds a byte
// outside field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5). It tests eight
// bytes at a time: a word with no byte below 0x20 and no DEL is all valid.
func checkFieldValue(v []byte) error {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := binary.LittleEndian.Uint64(v[i:])
		below20 := (x - lsbEach*0x20) & ^x & msbEach
		y := x ^ (lsbEach * 0x7f)
		del := (y - lsbEach) & ^y & msbEach
		if below20|del != 0 {
			if err := checkValueBytes(v[i : i+8]); err != nil {
				return err
			}
		}
	}
	return checkValueBytes(v[i:])
}

func checkValueBytes(v []byte) error {
	for _, c := range v {
		if charClass[c]&classValue == 0 {
			if c == cr {
				return ErrBareCR
			}
			return ErrFieldValue
		}
	}
	return nil
}

// classifyField maps a field name to its kind, ASCII case-insensitively.
func classifyField(name []byte) fieldKind {
	switch len(name) {
	case 2:
		if equalFold(name, "te") {
			return kindTE
		}
	case 4:
		if equalFold(name, "host") {
			return kindHost
		}
	case 6:
		if equalFold(name, "expect") {
			return kindExpect
		}
	case 7:
		if equalFold(name, "upgrade") {
			return kindUpgrade
		}
		if equalFold(name, "trailer") {
			return kindTrailer
		}
	case 10:
		if equalFold(name, "connection") {
			return kindConnection
		}
		if equalFold(name, "keep-alive") {
			return kindKeepAlive
		}
	case 14:
		if equalFold(name, "content-length") {
			return kindContentLength
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return kindXForwardedFor
		}
	case 16:
		if equalFold(name, "proxy-connection") {
			return kindProxyConnection
		}
		if equalFold(name, "x-forwarded-host") {
			return kindXForwardedHost
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return kindTransferEncoding
		}
		if equalFold(name, "x-forwarded-proto") {
			return kindXForwardedProto
		}
	}
	return kindOther
}

// equalFold reports whether b equals lower under ASCII case folding. lower
// must hold only a-z, 0-9 and '-' (every caller passes a literal), and b no
// CTL (it is a parsed name or value): then b[i]|0x20 == lower[i] holds exactly
// when the bytes match case-insensitively, since the only other bytes that
// OR to those are CTLs (0x0D -> '-', 0x10-0x19 -> digits).
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// equalFoldAny reports whether a equals b under ASCII case folding, b in
// any case, given as a string or a byte slice.
func equalFoldAny[T string | []byte](a []byte, b T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if toLower[a[i]] != toLower[b[i]] {
			return false
		}
	}
	return true
}

// lookupField returns the value of the first field named name.
func lookupField(buf []byte, fields []Field, name string) (Span, bool) {
	for _, f := range fields {
		if int(f.Name.Len) == len(name) && equalFoldAny(f.Name.In(buf), name) {
			return f.Value, true
		}
	}
	return Span{}, false
}

// parseVersion parses "HTTP/d.d" (exactly 8 bytes, case-sensitive, RFC 9112 §2.3).
// ok is false when the syntax is wrong; a syntactically valid version other
// than 1.0 or 1.1 returns ok with supported false.
func parseVersion(v []byte) (major, minor uint8, ok, supported bool) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, 0, false, false
	}
	major, minor = v[5]-'0', v[7]-'0'
	return major, minor, true, major == 1 && minor <= 1
}
