package lb

import (
	"bytes"
	"fmt"
	"strings"
)

// HashSource says where the engine takes the key of the Hash balancer from.
type HashSource uint8

// Hash key sources. The engine extracts the key (it owns the request) and
// passes it to Picker.Pick; CookieValue and QueryArg help without allocating.
const (
	// HashOnIP hashes the client IP, as text or as the 4/16 address bytes,
	// as long as the engine is consistent. The default.
	HashOnIP HashSource = iota
	// HashOnHeader hashes the value of the header HashKeySpec.Name.
	HashOnHeader
	// HashOnCookie hashes the value of the cookie HashKeySpec.Name.
	HashOnCookie
	// HashOnURI hashes the request target as received (path and query).
	HashOnURI
	// HashOnArg hashes the raw value of the query argument HashKeySpec.Name.
	HashOnArg
	// HashOnConsumer hashes the authenticated consumer's id.
	HashOnConsumer
)

var hashSourceNames = [...]string{"ip", "header", "cookie", "uri", "arg", "consumer"}

// String returns the name of s as written in a hash_on spec.
func (s HashSource) String() string {
	if int(s) < len(hashSourceNames) {
		return hashSourceNames[s]
	}
	return fmt.Sprintf("HashSource(%d)", s)
}

// HashKeySpec is the key of the Hash balancer. An empty key (a missing
// header, cookie or argument) makes Pick choose a random target by weight.
type HashKeySpec struct {
	Source HashSource
	// Name of the header, cookie or query argument; empty for the others.
	Name string
}

// String returns s in the form ParseHashOn reads.
func (s HashKeySpec) String() string {
	if s.Name == "" {
		return s.Source.String()
	}
	return s.Source.String() + ":" + s.Name
}

// ParseHashOn reads "ip", "header:NAME", "cookie:NAME", "uri", "arg:NAME" or
// "consumer" (the hash_on field of the declarative config). The empty string
// means "ip".
func ParseHashOn(spec string) (HashKeySpec, error) {
	if spec == "" {
		return HashKeySpec{Source: HashOnIP}, nil
	}
	kind, name, hasName := strings.Cut(spec, ":")
	for i, n := range hashSourceNames {
		if n != kind {
			continue
		}
		src := HashSource(i)
		needsName := src == HashOnHeader || src == HashOnCookie || src == HashOnArg
		if needsName != hasName || (needsName && name == "") {
			return HashKeySpec{}, fmt.Errorf("%w %q: %s", ErrHashOn, spec, nameRule(src))
		}
		return HashKeySpec{Source: src, Name: name}, nil
	}
	return HashKeySpec{}, fmt.Errorf("%w %q: want ip, header:NAME, cookie:NAME, uri, arg:NAME or consumer", ErrHashOn, spec)
}

func nameRule(src HashSource) string {
	switch src {
	case HashOnHeader, HashOnCookie, HashOnArg:
		return src.String() + " needs a name after ':'"
	}
	return src.String() + " takes no name"
}

// CookieValue returns the value of the first cookie called name in the value
// of a Cookie header ("a=1; b=2"), without surrounding double quotes, or nil
// when there is none. It does not allocate; the result aliases cookieHeader
// and lives as long as it does. Safe for concurrent use.
func CookieValue(cookieHeader []byte, name string) []byte {
	rest := cookieHeader
	for len(rest) > 0 {
		var pair []byte
		pair, rest = cutByte(rest, ';')
		pair = trimSpace(pair)
		eq := bytes.IndexByte(pair, '=')
		if eq < 0 || string(pair[:eq]) != name {
			continue
		}
		v := pair[eq+1:]
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v
	}
	return nil
}

// QueryArg returns the raw (still percent-encoded) value of the first query
// argument called name in a request target ("/p?a=1&b=2"), or nil when there
// is none; an argument without '=' has an empty, non-nil value. The name is
// compared raw. It does not allocate; the result aliases uri and lives as
// long as it does. Safe for concurrent use.
func QueryArg(uri []byte, name string) []byte {
	q := bytes.IndexByte(uri, '?')
	if q < 0 {
		return nil
	}
	rest := uri[q+1:]
	if h := bytes.IndexByte(rest, '#'); h >= 0 {
		rest = rest[:h]
	}
	for len(rest) > 0 {
		var arg []byte
		arg, rest = cutByte(rest, '&')
		key, val := arg, arg[len(arg):]
		if eq := bytes.IndexByte(arg, '='); eq >= 0 {
			key, val = arg[:eq], arg[eq+1:]
		}
		if string(key) == name && len(arg) > 0 {
			return val
		}
	}
	return nil
}

// cutByte splits b at the first sep: the part before it, and the rest after
// it (nil when there is no sep).
func cutByte(b []byte, sep byte) (field, rest []byte) {
	if i := bytes.IndexByte(b, sep); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
