package policies

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A validating JSON scanner for request bodies, without reflection: it
// walks the top-level object of a body, checks every value's grammar and
// nesting depth, and hands out views of each member's key and raw value.
// A body of warm buffers is checked without allocating.

func pjSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// pjString returns the index just past the string at b[i] ('"'), or -1.
func pjString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if _, ok := unhex(h); !ok {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		}
	}
	return -1
}

// pjNumber returns the index just past the number at b[i], or -1.
func pjNumber(b []byte, i int) int {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return -1
		}
	}
	if i == start {
		return -1
	}
	return i
}

// pjValue returns the index just past the value at b[i] (after spaces),
// or -1 when it is not valid JSON or nests deeper than depth.
func pjValue(b []byte, i, depth int) int {
	i = pjSpace(b, i)
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return pjString(b, i)
	case c == '{' || c == '[':
		if depth <= 0 {
			return -1
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = pjSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1
		}
		for {
			if c == '{' {
				i = pjSpace(b, i)
				if i >= len(b) || b[i] != '"' {
					return -1
				}
				if i = pjString(b, i); i < 0 {
					return -1
				}
				i = pjSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return -1
				}
				i++
			}
			if i = pjValue(b, i, depth-1); i < 0 {
				return -1
			}
			i = pjSpace(b, i)
			if i >= len(b) {
				return -1
			}
			if b[i] == closer {
				return i + 1
			}
			if b[i] != ',' {
				return -1
			}
			i++
		}
	case c == 't':
		return pjLiteral(b, i, "true")
	case c == 'f':
		return pjLiteral(b, i, "false")
	case c == 'n':
		return pjLiteral(b, i, "null")
	default:
		return pjNumber(b, i)
	}
}

func pjLiteral(b []byte, i int, lit string) int {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}

// validJSON says whether b is exactly one JSON value (spaces around it
// allowed) nesting at most depth levels.
func validJSON(b []byte, depth int) bool {
	end := pjValue(b, 0, depth)
	return end >= 0 && pjSpace(b, end) == len(b)
}

// visitJSONObject checks that body is one JSON object nesting at most
// depth levels and calls fn with each member's raw key (without its
// quotes, escapes left as written) and raw value, until fn returns false.
// It returns what is wrong with the body, or "".
func visitJSONObject(body []byte, depth int, fn func(rawKey, value []byte) bool) string {
	if !validJSON(body, depth) {
		return "must be valid JSON nesting at most " + itoa(depth) + " levels"
	}
	i := pjSpace(body, 0)
	if body[i] != '{' {
		return "must be a JSON object"
	}
	i = pjSpace(body, i+1)
	if body[i] == '}' {
		return ""
	}
	for {
		i = pjSpace(body, i)
		kEnd := pjString(body, i)
		key := body[i+1 : kEnd-1]
		i = pjSpace(body, kEnd) + 1 // past ':'
		i = pjSpace(body, i)
		vEnd := pjValue(body, i, depth)
		if !fn(key, body[i:vEnd]) {
			return ""
		}
		i = pjSpace(body, vEnd)
		if body[i] == '}' {
			return ""
		}
		i++ // ','
	}
}

// countItems counts the items of a valid JSON array.
func countItems(v []byte) int {
	i := pjSpace(v, 1)
	if i >= len(v) || v[i] == ']' {
		return 0
	}
	n := 0
	for {
		i = pjValue(v, i, defaultParamsMaxDepth+1)
		n++
		if i < 0 {
			return n
		}
		i = pjSpace(v, i)
		if i >= len(v) || v[i] == ']' {
			return n
		}
		i++
	}
}

// parseJSONNumber parses v if it is a JSON number (no "Inf", hex or
// underscores, which strconv would take). A JSON number beyond float64's
// range (about ±1.8e308) is valid JSON that min, max and enum cannot be
// checked against: ok is false and huge true, so that the refusal says
// so rather than "must be a number".
func parseJSONNumber(v []byte) (f float64, ok, huge bool) {
	if len(v) == 0 || pjNumber(v, 0) != len(v) {
		return 0, false, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, false, true
	}
	return f, true, false
}

// appendJSONUnquote appends the text of a JSON string's contents s
// (without its quotes) with its escapes decoded; ok is false for a bad
// escape.
func appendJSONUnquote(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			return dst, false
		}
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := pjHex4(s, i+1)
			if !ok {
				return dst, false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if i+6 < len(s)+1 && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, ok2 = pjHex4(s, i+3)
				}
				if ok2 {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

func pjHex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		h, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	return r, true
}

// appendParamJSONString appends s as a JSON string.
func appendParamJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			dst = append(dst, '\\', 'u', '0', '0', upperHex[c>>4], upperHex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
