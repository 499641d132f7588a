package config

import (
	"fmt"
	"strings"
)

// HashSource is what the hash balancer hashes, parsed from Upstream.HashOn.
type HashSource uint8

// Hash sources; the zero HashSource is none.
const (
	HashIP       HashSource = iota + 1 // "ip": the client address
	HashHeader                         // "header:NAME": a request header
	HashCookie                         // "cookie:NAME": a request cookie
	HashURI                            // "uri": the request target
	HashArg                            // "arg:NAME": a query argument
	HashConsumer                       // "consumer": the consumer an auth policy identified
)

var hashSourceNames = [...]string{HashIP: "ip", HashHeader: "header", HashCookie: "cookie", HashURI: "uri", HashArg: "arg", HashConsumer: "consumer"}

// String returns the source's name as written in hash_on, without its
// argument.
func (s HashSource) String() string {
	if int(s) < len(hashSourceNames) && s != 0 {
		return hashSourceNames[s]
	}
	return fmt.Sprintf("HashSource(%d)", uint8(s))
}

// ParseHashOn splits a hash_on value into its source and, for header,
// cookie and arg, the name that follows the colon. Names must be HTTP tokens.
func ParseHashOn(s string) (HashSource, string, error) {
	kind, name, hasName := strings.Cut(s, ":")
	for src, n := range hashSourceNames {
		if n == "" || n != kind {
			continue
		}
		source := HashSource(src)
		needsName := source == HashHeader || source == HashCookie || source == HashArg
		switch {
		case needsName && !hasName:
			return 0, "", fmt.Errorf(`"%s" needs a name, like "%s:X-User", got %q`, kind, kind, s)
		case !needsName && hasName:
			return 0, "", fmt.Errorf(`%q takes no name, got %q`, kind, s)
		case needsName && !isToken(name):
			return 0, "", fmt.Errorf("bad %s name %q", kind, name)
		}
		return source, name, nil
	}
	return 0, "", fmt.Errorf("must be one of ip, header:NAME, cookie:NAME, uri, arg:NAME, consumer; got %q", s)
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
