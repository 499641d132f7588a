package router

import (
	"fmt"
	"strings"
)

// MaxParams is the most parameters a path pattern may have, the capacity of
// Params.
const MaxParams = 8

// maxHostLen is the longest host name (RFC 1035); longer request hosts can
// only match "any host" patterns.
const maxHostLen = 253

// maxMethodLen bounds a method; no registered method comes close.
const maxMethodLen = 64

type hostKind uint8

const (
	hostAny hostKind = iota
	hostWild
	hostExact
)

// hostPattern is a parsed host pattern. key is the lower-cased host for an
// exact pattern and the suffix with its leading dot (".example.com") for a
// wildcard one.
type hostPattern struct {
	kind hostKind
	key  string
}

func (h hostPattern) String() string {
	switch h.kind {
	case hostAny:
		return "*"
	case hostWild:
		return "*" + h.key
	}
	return h.key
}

// CheckHost reports whether p is a valid host pattern; the error wraps
// ErrBadHost.
func CheckHost(p string) error {
	_, err := parseHost(p)
	return err
}

func parseHost(p string) (hostPattern, error) {
	if p == "*" {
		return hostPattern{kind: hostAny}, nil
	}
	h := strings.ToLower(p)
	kind := hostExact
	if strings.HasPrefix(h, "*.") {
		kind, h = hostWild, h[2:]
	}
	h = strings.TrimSuffix(h, ".")
	if err := checkHostName(h, kind == hostWild); err != nil {
		return hostPattern{}, err
	}
	if kind == hostWild {
		return hostPattern{kind: hostWild, key: "." + h}, nil
	}
	return hostPattern{kind: hostExact, key: h}, nil
}

// checkHostName validates a lower-cased host without port: dot-separated
// non-empty labels, or a bracketed IPv6 literal.
func checkHostName(h string, wild bool) error {
	switch {
	case h == "":
		return fmt.Errorf("%w: empty", ErrBadHost)
	case len(h) > maxHostLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadHost, maxHostLen)
	case h[0] == '[':
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return fmt.Errorf("%w: unclosed IPv6 literal", ErrBadHost)
		}
		if end != len(h)-1 {
			return fmt.Errorf("%w: must not carry a port", ErrBadHost)
		}
		if wild || end < 3 {
			return fmt.Errorf("%w: bad IPv6 literal", ErrBadHost)
		}
		for i := 1; i < end; i++ {
			if !ipv6Chars[h[i]] {
				return fmt.Errorf("%w: bad IPv6 literal", ErrBadHost)
			}
		}
		return nil
	case strings.Contains(h, "*"):
		return fmt.Errorf(`%w: "*" only as "*" or a leading "*."`, ErrBadHost)
	case strings.IndexByte(h, ':') >= 0:
		return fmt.Errorf("%w: must not carry a port (hosts are matched without it)", ErrBadHost)
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == '.' {
			if label == 0 {
				return fmt.Errorf("%w: empty label", ErrBadHost)
			}
			label = 0
			continue
		}
		if !hostLabelChars[c] {
			return fmt.Errorf("%w: %q is not allowed in a host name", ErrBadHost, c)
		}
		label++
	}
	if label == 0 {
		return fmt.Errorf("%w: empty label", ErrBadHost)
	}
	return nil
}

type pathKind uint8

const (
	pathPrefix pathKind = iota
	pathParam
	pathExact
)

// segment is one segment of a parameter pattern: a literal, or a parameter
// when param is set.
type segment struct {
	lit   string
	param bool
}

// pathPattern is a parsed path pattern.
type pathPattern struct {
	kind pathKind
	raw  string
	// key identifies the pattern up to parameter names: the path for an
	// exact pattern, the prefix without "/*" for a prefix ("" for "/*"), and
	// the path with every parameter written "{}" for a parameter pattern.
	key   string
	segs  []segment // parameter patterns only
	names []string  // parameter names in order, parameter patterns only
}

// CheckPath reports whether p is a valid path pattern; the error wraps
// ErrBadPath or ErrTooManyParams.
func CheckPath(p string) error {
	_, err := parsePath(p)
	return err
}

func parsePath(p string) (pathPattern, error) {
	if p == "" || p[0] != '/' {
		return pathPattern{}, fmt.Errorf(`%w: must start with "/"`, ErrBadPath)
	}
	body, prefix := p, false
	if strings.HasSuffix(p, "/*") {
		body, prefix = p[:len(p)-2], true
	}
	// Most patterns have no parameter: one pass over the bytes, which
	// finds the first bad byte as parseSegments would, and no allocation.
	if strings.IndexAny(body, "{}") < 0 {
		if err := checkLiteral(body); err != nil {
			return pathPattern{}, err
		}
		if prefix {
			return pathPattern{kind: pathPrefix, raw: p, key: body}, nil
		}
		return pathPattern{kind: pathExact, raw: p, key: p}, nil
	}
	return parseSegments(p, body, prefix)
}

// parseSegments parses p segment by segment; body is p without its final
// "/*" if prefix.
func parseSegments(p, body string, prefix bool) (pathPattern, error) {
	segs := make([]segment, 0, strings.Count(body, "/"))
	var names []string
	var shape strings.Builder
	shape.Grow(len(body))
	// body is "" for "/*"; otherwise it starts with "/", and every segment
	// follows a "/".
	for rest := body; rest != ""; {
		rest = rest[1:]
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		shape.WriteByte('/')
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && len(seg) >= 2 {
			name := seg[1 : len(seg)-1]
			if err := checkParamName(name, names); err != nil {
				return pathPattern{}, err
			}
			names = append(names, name)
			segs = append(segs, segment{lit: name, param: true})
			shape.WriteString("{}")
			continue
		}
		if err := checkLiteral(seg); err != nil {
			return pathPattern{}, err
		}
		segs = append(segs, segment{lit: seg})
		shape.WriteString(seg)
	}
	switch {
	case len(names) > MaxParams:
		return pathPattern{}, fmt.Errorf("%w: %d, at most %d", ErrTooManyParams, len(names), MaxParams)
	case len(names) > 0 && prefix:
		return pathPattern{}, fmt.Errorf(`%w: a prefix "/*" cannot have parameters`, ErrBadPath)
	case prefix:
		return pathPattern{kind: pathPrefix, raw: p, key: body}, nil
	case len(names) > 0:
		return pathPattern{kind: pathParam, raw: p, key: shape.String(), segs: segs, names: names}, nil
	}
	return pathPattern{kind: pathExact, raw: p, key: p}, nil
}

// checkLiteral checks the bytes of literal segments of a path pattern,
// their separating "/" included.
func checkLiteral(s string) error {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*':
			return fmt.Errorf(`%w: "*" only as a final "/*"`, ErrBadPath)
		case c == '{' || c == '}':
			return fmt.Errorf(`%w: a parameter must be a whole segment, "/{name}"`, ErrBadPath)
		case !pathChars[c]:
			return fmt.Errorf("%w: %q is not allowed in a path", ErrBadPath, c)
		}
	}
	return nil
}

func checkParamName(name string, seen []string) error {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return fmt.Errorf("%w: parameter name %q must be a letter or _ followed by letters, digits or _", ErrBadPath, name)
	}
	for i := 0; i < len(name); i++ {
		if !paramNameChars[name[i]] {
			return fmt.Errorf("%w: parameter name %q must be a letter or _ followed by letters, digits or _", ErrBadPath, name)
		}
	}
	for _, s := range seen {
		if s == name {
			return fmt.Errorf("%w: parameter %q appears twice", ErrBadPath, name)
		}
	}
	return nil
}

// CheckMethod reports whether m is a valid method; the error wraps
// ErrBadMethod.
func CheckMethod(m string) error {
	if m == "" {
		return fmt.Errorf("%w: empty", ErrBadMethod)
	}
	if len(m) > maxMethodLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrBadMethod, maxMethodLen)
	}
	for i := 0; i < len(m); i++ {
		if !tokenChars[m[i]] {
			return fmt.Errorf("%w: %q is not allowed in a method", ErrBadMethod, m[i])
		}
	}
	return nil
}
