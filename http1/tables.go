package http1

// All byte classes and byte constants of the package live in this file.
// The tables are built once at package initialisation from the RFC grammar
// below, which keeps the definition readable and checkable; tables_test.go
// checks them against an independent byte-by-byte reading of the grammar.

const (
	cr = '\r'
	lf = '\n'
	sp = ' '
	ht = '\t'
)

// Byte classes (bits of charClass).
const (
	// classToken: tchar, RFC 9110 §5.6.2.
	classToken uint8 = 1 << iota
	// classValue: field-vchar / SP / HTAB, RFC 9110 §5.5 (obs-text included).
	classValue
	// classTarget: bytes we accept in a request-target: VCHAR except '#'
	// (RFC 9112 §3.2 has no fragment). We accept the few VCHARs RFC 3986
	// does not list (" < > \ ^ ` { | }) as nginx does: real clients send them.
	classTarget
	// classHost: bytes of uri-host [":" port] (RFC 3986 §3.2.2): unreserved,
	// pct-encoded, sub-delims except ',', ':' and IP-literal brackets.
	classHost
	// classScheme: ALPHA / DIGIT / "+" / "-" / "." (RFC 3986 §3.1).
	classScheme
	// classReason: HTAB / SP / VCHAR / obs-text (RFC 9112 §4 reason-phrase).
	classReason
)

// charClass holds the classes of every byte.
var charClass = buildCharClass()

// toLower maps ASCII upper-case letters to lower case and every other byte to itself.
var toLower = buildToLower()

// hexValue maps '0'-'9', 'a'-'f', 'A'-'F' to their value and every other byte to 0xff.
var hexValue = buildHexValue()

// hexDigits are the digits AppendChunk writes.
const hexDigits = "0123456789abcdef"

func buildCharClass() (t [256]uint8) {
	const tokenSpecials = "!#$%&'*+-.^_`|~"
	const hostSpecials = "-._~!$&'()*+;=:[]%"
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		vchar := b >= 0x21 && b <= 0x7e
		if alnum || contains(tokenSpecials, b) {
			t[c] |= classToken
		}
		if vchar || b >= 0x80 || b == sp || b == ht {
			t[c] |= classValue | classReason
		}
		if vchar && b != '#' {
			t[c] |= classTarget
		}
		if alnum || contains(hostSpecials, b) {
			t[c] |= classHost
		}
		if alnum || b == '+' || b == '-' || b == '.' {
			t[c] |= classScheme
		}
	}
	return t
}

func contains(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func buildToLower() (t [256]byte) {
	for c := 0; c < 256; c++ {
		t[c] = byte(c)
		if c >= 'A' && c <= 'Z' {
			t[c] = byte(c) + 'a' - 'A'
		}
	}
	return t
}

func buildHexValue() (t [256]byte) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c-'a') + 10
		case c >= 'A' && c <= 'F':
			t[c] = byte(c-'A') + 10
		default:
			t[c] = 0xff
		}
	}
	return t
}

// SWAR constants for validating eight field-value bytes at once.
const (
	lsbEach = 0x0101010101010101
	msbEach = 0x8080808080808080
)
