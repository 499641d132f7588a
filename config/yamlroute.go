package config

import (
	"encoding"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The write-back (YAMLEncoder) writes the routes an Admin API change
// replaced, twenty a second at the churn cell's rate. Through yaml.v3 a
// route costs about 0.1 ms and 37 KB of garbage, most of it the emitter's
// queue of events growing by doubling; that was half of what a change
// left for the collector once the route list stopped being copied.
// routeYAML writes the same route, read back, from the values directly,
// in block style with yaml.v3's indentation, every string it cannot write
// plain in double quotes. What it does not know how to write so that
// yaml.v3 reads back the same value (tags other than the core schema's,
// aliases, strings YAML cannot hold unescaped, floats that are not
// finite) it leaves to yaml.v3: ok is false. TestRouteYAMLReadsBackAsYAMLv3
// and FuzzRouteYAML hold the two ways to the same configuration.

// routeYAML writes r as an item of the routes' list, "  - name: ...".
func routeYAML(dst []byte, r *Route) ([]byte, bool) {
	start := len(dst)
	dst = append(dst, "  -"...)
	dst, ok := yamlItem(dst, reflect.ValueOf(r).Elem(), 2, 0)
	if !ok {
		return dst[:start], false
	}
	return dst, true
}

// yamlItem writes v as a sequence item whose "-" the caller wrote at
// column col.
func yamlItem(dst []byte, v reflect.Value, col, depth int) ([]byte, bool) {
	return yamlEntry(dst, v, col, depth, true)
}

// yamlValue writes v as the value of a key the caller wrote at column col
// ("key:").
func yamlValue(dst []byte, v reflect.Value, col, depth int) ([]byte, bool) {
	return yamlEntry(dst, v, col, depth, false)
}

func yamlEntry(dst []byte, v reflect.Value, col, depth int, item bool) ([]byte, bool) {
	if depth > maxDepth {
		return dst, false
	}
	v, ok := yamlResolve(v)
	if !ok {
		return dst, false
	}
	kind, n := yamlShape(v)
	switch {
	case (kind == shapeScalar || n == 0) && item:
		return yamlInline(append(dst, ' '), v, -1) // no literal blocks in a list
	case kind == shapeScalar || n == 0:
		return yamlInline(append(dst, ' '), v, col)
	case kind == shapeMapping && item:
		return yamlMapping(append(dst, ' '), v, col+2, true, depth) // after the "- "
	case kind == shapeMapping:
		return yamlMapping(append(dst, '\n'), v, nestedColumn(col), false, depth)
	case item:
		return yamlSequence(append(dst, '\n'), v, col+4, depth)
	default:
		return yamlSequence(append(dst, '\n'), v, nestedColumn(col), depth)
	}
}

// nestedColumn is where yaml.v3 puts what a key at column col holds: the
// next multiple of its indentation, 4, counted from the route's first key
// (column 4 of the file, as the routes' list is written).
func nestedColumn(col int) int { return col/4*4 + 4 }

type yamlShapeKind int

const (
	shapeScalar yamlShapeKind = iota
	shapeMapping
	shapeSequence
)

// yamlResolve follows pointers, interfaces and MarshalYAML to the value
// written; ok is false for what routeYAML leaves to yaml.v3.
func yamlResolve(v reflect.Value) (reflect.Value, bool) {
	for i := 0; i < 8; i++ {
		if !v.IsValid() {
			return v, true
		}
		t := v.Type()
		switch {
		case t == nodeType:
			if !v.CanAddr() { // a map's value
				c := reflect.New(t).Elem()
				c.Set(v)
				v = c
			}
			n := v.Addr().Interface().(*yaml.Node)
			switch n.Kind {
			case yaml.MappingNode:
				return v, n.ShortTag() == "!!map"
			case yaml.SequenceNode:
				return v, n.ShortTag() == "!!seq"
			case yaml.ScalarNode:
				return v, true // yamlNodeScalar checks its tag
			}
			return v, false // aliases, documents, the zero Node: yaml.v3's
		case t == timeType || t.Kind() == reflect.Pointer && t.Elem() == timeType:
			return v, false
		case t == durationType:
			return reflect.ValueOf(v.Interface().(interface{ String() string }).String()), true
		case t.Implements(yamlMarshaler):
			if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) && v.IsNil() {
				return reflect.Value{}, true
			}
			m, err := v.Interface().(yaml.Marshaler).MarshalYAML()
			if err != nil {
				return v, false
			}
			v = reflect.ValueOf(m)
			continue
		case t.Implements(textMarshaler):
			text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
			if err != nil {
				return v, false
			}
			return reflect.ValueOf(string(text)), true
		}
		if k := v.Kind(); k == reflect.Pointer || k == reflect.Interface {
			if v.IsNil() {
				return reflect.Value{}, true
			}
			v = v.Elem()
			continue
		}
		return v, true
	}
	return v, false
}

// yamlShape is what v is written as, and how many entries it has (a
// mapping's written fields, a sequence's items).
func yamlShape(v reflect.Value) (yamlShapeKind, int) {
	if !v.IsValid() {
		return shapeScalar, 0
	}
	if v.Type() == nodeType {
		n := v.Addr().Interface().(*yaml.Node)
		switch n.Kind {
		case yaml.MappingNode:
			return shapeMapping, len(n.Content) / 2
		case yaml.SequenceNode:
			return shapeSequence, len(n.Content)
		}
		return shapeScalar, 0
	}
	switch v.Kind() {
	case reflect.Struct:
		fs := fieldsOf(v.Type())
		n := 0
		for i, name := range fs.names {
			if !fs.omitEmpty[i] || !yamlZero(v.FieldByIndex(fs.byName[name])) {
				n++
			}
		}
		return shapeMapping, n
	case reflect.Map:
		return shapeMapping, v.Len()
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return shapeScalar, 0 // !!binary: yaml.v3's (yamlInline refuses it)
		}
		return shapeSequence, v.Len()
	}
	return shapeScalar, 0
}

// maxImplicitKey bounds a key as written, quotes and escapes included. A
// key of "key: value" may be 1024 characters at most (YAML 1.2, 7.4.2);
// the parser reads a longer one as no key at all ("could not find
// expected ':'"), so a route with one is left to yaml.v3, which writes it
// as an explicit "? key". Counting bytes keeps under the limit in
// characters too.
const maxImplicitKey = 1024

// yamlMapping writes v's entries at column col; inline says the first one
// goes where the cursor is (after "- ").
func yamlMapping(dst []byte, v reflect.Value, col int, inline bool, depth int) ([]byte, bool) {
	ok := true
	entry := func(key string, plainKey bool, val reflect.Value) {
		if !ok {
			return
		}
		if inline {
			inline = false
		} else {
			dst = appendSpaces(dst, col)
		}
		start := len(dst)
		if plainKey {
			dst = append(dst, key...)
		} else if dst, ok = yamlString(dst, key); !ok {
			return
		}
		if len(dst)-start > maxImplicitKey {
			ok = false // yaml.v3 writes it as an explicit key ("? ...")
			return
		}
		dst = append(dst, ':')
		dst, ok = yamlValue(dst, val, col, depth+1)
	}
	if v.Type() == nodeType {
		n := v.Addr().Interface().(*yaml.Node)
		for i := 0; i+1 < len(n.Content) && ok; i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return dst, false
			}
			if k.ShortTag() == "!!str" {
				entry(k.Value, false, reflect.ValueOf(n.Content[i+1]).Elem())
				continue
			}
			// A key of another tag (200: in a map of statuses) is
			// written as its scalar is.
			key, keyOK := yamlNodeScalar(nil, k)
			if !keyOK {
				return dst, false
			}
			entry(string(key), true, reflect.ValueOf(n.Content[i+1]).Elem())
		}
		return dst, ok
	}
	switch v.Kind() {
	case reflect.Struct:
		fs := fieldsOf(v.Type())
		if fs.unusual {
			return dst, false
		}
		for i, name := range fs.names {
			f := v.FieldByIndex(fs.byName[name])
			if fs.omitEmpty[i] && yamlZero(f) {
				continue
			}
			entry(name, true, f) // yaml tags are plain words
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return dst, false
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys) // the order is not the value: read back, it is the same map
		for _, k := range keys {
			entry(k, false, v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())))
		}
	default:
		return dst, false
	}
	return dst, ok
}

// yamlSequence writes v's items, their "-" at column col.
func yamlSequence(dst []byte, v reflect.Value, col, depth int) ([]byte, bool) {
	ok := true
	if v.Type() == nodeType {
		for _, c := range v.Addr().Interface().(*yaml.Node).Content {
			dst = append(appendSpaces(dst, col), '-')
			if dst, ok = yamlItem(dst, reflect.ValueOf(c).Elem(), col, depth+1); !ok {
				break
			}
		}
		return dst, ok
	}
	for i := range v.Len() {
		dst = append(appendSpaces(dst, col), '-')
		if dst, ok = yamlItem(dst, v.Index(i), col, depth+1); !ok {
			break
		}
	}
	return dst, ok
}

// yamlInline writes a scalar, or an empty mapping or sequence, and ends
// the line. col is the column of the key it is the value of, -1 for a
// sequence's item.
func yamlInline(dst []byte, v reflect.Value, col int) ([]byte, bool) {
	ok := true
	if !v.IsValid() {
		return append(dst, "null\n"...), true
	}
	if v.Type() == nodeType {
		n := v.Addr().Interface().(*yaml.Node)
		switch n.Kind {
		case yaml.MappingNode:
			dst = append(dst, "{}"...)
		case yaml.SequenceNode:
			dst = append(dst, "[]"...)
		case yaml.ScalarNode:
			if n.ShortTag() == "!!str" {
				if out, literal := yamlLiteral(dst, n.Value, col); literal {
					return out, true
				}
			}
			dst, ok = yamlNodeScalar(dst, n)
		default: // aliases, documents, the zero Node
			return dst, false
		}
		return append(dst, '\n'), ok
	}
	switch v.Kind() {
	case reflect.Struct, reflect.Map:
		dst = append(dst, "{}"...)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return dst, false
		}
		dst = append(dst, "[]"...)
	case reflect.String:
		if out, literal := yamlLiteral(dst, v.String(), col); literal {
			return out, true
		}
		dst, ok = yamlString(dst, v.String())
	case reflect.Bool:
		dst = strconv.AppendBool(dst, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		dst = strconv.AppendInt(dst, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		dst = strconv.AppendUint(dst, v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return dst, false
		}
		bits := 64
		if v.Kind() == reflect.Float32 {
			bits = 32
		}
		dst = strconv.AppendFloat(dst, f, 'g', -1, bits)
	default:
		return dst, false
	}
	return append(dst, '\n'), ok
}

// Plain scalars of the core schema's tags that read back as what they
// were: routeYAML writes a node's scalar of these tags as it is when its
// text is one of these, and leaves other spellings (0x1F, .inf, TRUE with
// an explicit tag...) to yaml.v3.
var (
	plainInt   = regexp.MustCompile(`^[-+]?[0-9]+$`)
	plainFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
)

// yamlNodeScalar writes a policy config's scalar.
func yamlNodeScalar(dst []byte, n *yaml.Node) ([]byte, bool) {
	if n.Anchor != "" {
		return dst, false
	}
	switch n.ShortTag() {
	case "!!str":
		return yamlString(dst, n.Value)
	case "!!null":
		return append(dst, "null"...), true
	case "!!bool":
		switch n.Value {
		case "true", "false":
			return append(dst, n.Value...), true
		}
	case "!!int":
		if plainInt.MatchString(n.Value) {
			return append(dst, n.Value...), true
		}
	case "!!float":
		if plainFloat.MatchString(n.Value) && strings.ContainsAny(n.Value, ".eE") {
			return append(dst, n.Value...), true
		}
	}
	return dst, false
}

// yamlString writes s plain when it is a word that reads back as that
// string (a letter or "/" first, no spaces, a few punctuation marks, not
// a word YAML 1.1 or 1.2 reads as a bool or null), else double-quoted with
// JSON's escapes, which YAML's double quotes read the same. A string with
// characters YAML does not allow in a document even escaped this way is
// left to yaml.v3.
func yamlString(dst []byte, s string) ([]byte, bool) {
	if plainWord(s) {
		return append(dst, s...), true
	}
	if !utf8.ValidString(s) {
		return dst, false
	}
	for _, r := range s {
		if !yamlPrintable(r) && r >= 0x20 && r != 0x2028 && r != 0x2029 { // JSON escapes those
			return dst, false
		}
	}
	return appendJSONString(dst, s), true
}

// yamlLiteral writes a string of lines as a literal block ("|", or "|-"
// without the last line break), as a file's author writes a response's
// body, its lines at the column after col's; literal is false, and dst
// unchanged, for a string a literal block would not read back as: one of
// a single line, with characters YAML reads as line breaks or does not
// allow, with a line of only blanks, or whose first line starts with a
// blank (that needs an indentation indicator), or ending with more than
// one line break.
func yamlLiteral(dst []byte, s string, col int) ([]byte, bool) {
	body, clip := strings.CutSuffix(s, "\n")
	if col < 0 || !strings.Contains(body, "\n") || strings.HasSuffix(body, "\n") || body[0] == ' ' || body[0] == '\t' || !utf8.ValidString(s) {
		return dst, false
	}
	for _, r := range body {
		if r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029 || r != '\n' && !yamlPrintable(r) {
			return dst, false
		}
	}
	for line := range strings.SplitSeq(body, "\n") {
		if line != "" && strings.Trim(line, " \t") == "" {
			return dst, false
		}
	}
	if clip {
		dst = append(dst, "|\n"...)
	} else {
		dst = append(dst, "|-\n"...)
	}
	indent := nestedColumn(col)
	for line := range strings.SplitSeq(body, "\n") {
		if line != "" {
			dst = append(appendSpaces(dst, indent), line...)
		}
		dst = append(dst, '\n')
	}
	return dst, true
}

// yamlPrintable is YAML's c-printable: what a document may hold as it is.
func yamlPrintable(r rune) bool {
	return r == 0x9 || r == 0xa || r == 0xd || r >= 0x20 && r <= 0x7e || r == 0x85 ||
		r >= 0xa0 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff
}

// yamlWords are the plain words yaml.v3 reads, or writes quoted, as other
// than strings.
var yamlWords = map[string]bool{
	"y": true, "yes": true, "n": true, "no": true, "on": true, "off": true,
	"true": true, "false": true, "null": true,
}

func plainWord(s string) bool {
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		return plainUnit(s)
	}
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z' || s[0] == '/') {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
		case strings.IndexByte("_-./*=+@%,;()[]{}$", c) >= 0:
			// Inside a block-style plain scalar none of these means
			// anything (routeYAML writes no flow collections).
		case c == ':' && i < len(s)-1:
			// "a:b" is a scalar; "a: b" and "a:" would be mappings.
		default:
			return false
		}
	}
	return len(s) > 5 || !yamlWords[strings.ToLower(s)]
}

// plainUnit reports whether a string that starts with a digit, such as
// "10s" or "1MiB" (durations and sizes), is written plain: made of
// letters, digits and dots, with a letter, and nothing yaml.v3 reads as a
// number (it tries the forms strconv parses, 0x1F, 1e3, 0b101, 0o17...)
// or a timestamp (those have a "-").
func plainUnit(s string) bool {
	letter := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9' || c == '.':
		default:
			return false
		}
	}
	if !letter || strings.HasPrefix(s, "0b") || strings.HasPrefix(s, "0o") {
		return false
	}
	_, errInt := strconv.ParseInt(s, 0, 64)
	_, errUint := strconv.ParseUint(s, 0, 64)
	_, errFloat := strconv.ParseFloat(s, 64)
	return errInt != nil && errUint != nil && errFloat != nil
}

func appendSpaces(dst []byte, n int) []byte {
	for range n {
		dst = append(dst, ' ')
	}
	return dst
}
