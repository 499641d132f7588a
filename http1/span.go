package http1

// Span is an offset into the buffer a message was parsed from. Spans, not
// slices, are what parsers record: the caller may move the bytes (append into
// a larger array, copy the head into its own buffer) and the Spans stay true
// as long as the bytes keep their offsets.
//
// Span is a value type, safe to copy and to use concurrently.
type Span struct{ Off, Len uint32 }

// In returns buf[Off:Off+Len]. The result is a view: it aliases buf and is
// valid as long as buf is; copy it to keep it longer.
func (s Span) In(buf []byte) []byte { return buf[s.Off : s.Off+s.Len : s.Off+s.Len] }

// Empty reports whether the span has no bytes.
func (s Span) Empty() bool { return s.Len == 0 }

func span(off, end int) Span { return Span{Off: uint32(off), Len: uint32(end - off)} }

func (s Span) end() int { return int(s.Off + s.Len) }

// Field is one field line: Name as sent (case preserved) and Value with
// surrounding OWS trimmed. Both index the parsed buffer.
type Field struct{ Name, Value Span }

// Limits bound a head. Zero fields take the defaults in brackets.
// Limits is a plain value, safe to share read-only.
type Limits struct {
	MaxHeadBytes   int // whole head incl. final CRLF [16384] -> ErrHeadTooLarge (431)
	MaxRequestLine int // request-line / status-line length, without CRLF [8192] -> ErrRequestLineTooLong
	MaxFieldLine   int // one field line, without CRLF [8192] -> ErrFieldTooLarge (431)
	MaxFields      int // number of field lines [100] -> ErrTooManyFields (431)
}

// Default limits.
const (
	DefaultMaxHeadBytes   = 16384
	DefaultMaxRequestLine = 8192
	DefaultMaxFieldLine   = 8192
	DefaultMaxFields      = 100
)

// withDefaults returns l with zero (or negative) fields replaced by the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxHeadBytes <= 0 {
		l.MaxHeadBytes = DefaultMaxHeadBytes
	}
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = DefaultMaxRequestLine
	}
	if l.MaxFieldLine <= 0 {
		l.MaxFieldLine = DefaultMaxFieldLine
	}
	if l.MaxFields <= 0 {
		l.MaxFields = DefaultMaxFields
	}
	return l
}

// TargetForm is the form of a request-target (RFC 9112 §3.2).
type TargetForm uint8

const (
	FormOrigin    TargetForm = iota // "/path?query"
	FormAbsolute                    // "http://host/path?query" (proxy requests)
	FormAuthority                   // "host:port" (CONNECT only)
	FormAsterisk                    // "*" (OPTIONS only)
)

// String returns the form's name.
func (f TargetForm) String() string {
	switch f {
	case FormOrigin:
		return "origin-form"
	case FormAbsolute:
		return "absolute-form"
	case FormAuthority:
		return "authority-form"
	case FormAsterisk:
		return "asterisk-form"
	}
	return "unknown-form"
}

// noCopy makes go vet's copylocks check flag copies of the types that embed
// it: a copied Request or Response would share its Fields array with the
// original, and the next Parse into either would corrupt the other.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
