package policies

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A small JSON toolkit for aggregate: it walks bodies that json.Valid has
// accepted, finds fields by path, filters and merges top-level fields, and
// writes the merged object — without decoding into maps, so a merge of
// warm buffers allocates nothing. Values are copied as the backends wrote
// them; keys are compared as written (a key spelled with escapes, "\u0061",
// is not "a").

// jsonSkipSpace returns the index of the first non-space byte at or after i.
func jsonSkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonStringEnd returns the index just past the string starting at b[i] ('"').
func jsonStringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// jsonValueEnd returns the index just past the value starting at b[i]
// (no leading space). b must be valid JSON.
func jsonValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return jsonStringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = jsonStringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ { // a number, true, false or null
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// jsonDepth is the deepest nesting of objects and arrays in b (valid JSON):
// 0 for a scalar, 1 for {"a":1}.
func jsonDepth(b []byte) int {
	depth, max := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = jsonStringEnd(b, i) - 1
		case '{', '[':
			depth++
			if depth > max {
				max = depth
			}
		case '}', ']':
			depth--
		}
	}
	return max
}

// jsonTrim returns the value of a valid JSON document without its
// surrounding space.
func jsonTrim(b []byte) []byte {
	i := jsonSkipSpace(b, 0)
	return b[i:jsonValueEnd(b, i)]
}

// jsonFields calls fn with the raw key (without quotes, escapes as
// written) and raw value of each field of the object v, in order, until fn
// returns false. v is a trimmed valid JSON object.
func jsonFields(v []byte, fn func(key, val []byte) bool) {
	i := jsonSkipSpace(v, 1)
	for i < len(v) && v[i] == '"' {
		kEnd := jsonStringEnd(v, i)
		key := v[i+1 : kEnd-1]
		i = jsonSkipSpace(v, kEnd)
		i = jsonSkipSpace(v, i+1) // past ':'
		vEnd := jsonValueEnd(v, i)
		if !fn(key, v[i:vEnd]) {
			return
		}
		i = jsonSkipSpace(v, vEnd)
		if i < len(v) && v[i] == ',' {
			i = jsonSkipSpace(v, i+1)
		}
	}
}

// jsonField returns the raw value of the field called key of the object v.
func jsonField(v []byte, key string) (val []byte, ok bool) {
	i := jsonSkipSpace(v, 1)
	for i < len(v) && v[i] == '"' {
		kEnd := jsonStringEnd(v, i)
		k := v[i+1 : kEnd-1]
		i = jsonSkipSpace(v, kEnd)
		i = jsonSkipSpace(v, i+1)
		vEnd := jsonValueEnd(v, i)
		if string(k) == key {
			return v[i:vEnd], true
		}
		i = jsonSkipSpace(v, vEnd)
		if i < len(v) && v[i] == ',' {
			i = jsonSkipSpace(v, i+1)
		}
	}
	return nil, false
}

// jsonPath follows path (object keys) from the trimmed valid value v.
func jsonPath(v []byte, path []string) ([]byte, bool) {
	for _, k := range path {
		if len(v) == 0 || v[0] != '{' {
			return nil, false
		}
		var ok bool
		if v, ok = jsonField(v, k); !ok {
			return nil, false
		}
	}
	return v, true
}

// appendJSONText appends the text of a scalar JSON value: a string's
// decoded characters, a number or true/false as written. ok is false for
// an object, an array or null.
func appendJSONText(dst, v []byte) ([]byte, bool) {
	if len(v) == 0 {
		return dst, false
	}
	switch v[0] {
	case '{', '[', 'n':
		return dst, false
	case '"':
		inner := v[1 : len(v)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return append(dst, inner...), true
		}
		var s string // escapes: rare enough for encoding/json to decode them
		if json.Unmarshal(v, &s) != nil {
			return dst, false
		}
		return append(dst, s...), true
	}
	return append(dst, v...), true
}

// appendJSONString appends s as a JSON string, quotes included.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// mergedField is one field of the answer being built: its key (without
// quotes, JSON-escaped) and its value, a view into a backend's body or a
// span of the merger's own buffer (filtered group values).
type mergedField struct {
	key    []byte
	val    []byte
	ownOff int32 // >= 0: the value is own[ownOff:ownOff+ownLen]
	ownLen int32
}

// merger builds one JSON object from several parts with a deterministic
// collision rule: a key keeps its first position and takes the value of
// the last part that set it (parts are added in config order). It is
// reused across requests: warm, it does not allocate. Not safe for
// concurrent use.
type merger struct {
	fields []mergedField
	table  []int32 // open addressing over fields, -1 empty; len a power of two
	own    []byte  // filtered group values
}

func (m *merger) reset() {
	clear(m.fields) // no view into a finished request's bodies stays
	m.fields = m.fields[:0]
	m.own = m.own[:0]
	for i := range m.table {
		m.table[i] = -1
	}
}

func hashKey(k []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range k {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// slot finds key's slot in the table: the index of its field, or -1 and
// the empty slot where it would go.
func (m *merger) slot(key []byte) (field int32, at int) {
	mask := len(m.table) - 1
	for i := int(hashKey(key)) & mask; ; i = (i + 1) & mask {
		f := m.table[i]
		if f < 0 || bytes.Equal(m.fields[f].key, key) {
			return f, i
		}
	}
}

// set adds key with val (a view) or the own span, or replaces the value of
// an earlier field with that key.
func (m *merger) set(key, val []byte, ownOff, ownLen int32) {
	if 2*(len(m.fields)+1) > len(m.table) {
		m.grow()
	}
	f, at := m.slot(key)
	nf := mergedField{key: key, val: val, ownOff: ownOff, ownLen: ownLen}
	if f >= 0 {
		nf.key = m.fields[f].key
		m.fields[f] = nf
		return
	}
	m.table[at] = int32(len(m.fields))
	m.fields = append(m.fields, nf)
}

func (m *merger) grow() {
	n := 2 * len(m.table)
	if n < 32 {
		n = 32
	}
	if cap(m.table) >= n {
		m.table = m.table[:n]
	} else {
		m.table = make([]int32, n)
	}
	for i := range m.table {
		m.table[i] = -1
	}
	mask := n - 1
	for fi := range m.fields {
		i := int(hashKey(m.fields[fi].key)) & mask
		for m.table[i] >= 0 {
			i = (i + 1) & mask
		}
		m.table[i] = int32(fi)
	}
}

// appendObject writes the merged object to dst.
func (m *merger) appendObject(dst []byte) []byte {
	dst = append(dst, '{')
	for i := range m.fields {
		f := &m.fields[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, f.key...)
		dst = append(dst, '"', ':')
		if f.ownOff >= 0 {
			dst = append(dst, m.own[f.ownOff:f.ownOff+f.ownLen]...)
		} else {
			dst = append(dst, f.val...)
		}
	}
	return append(dst, '}')
}

// fieldFilter is a part's allow, deny and mapping settings.
type fieldFilter struct {
	allow   map[string]struct{} // nil: every field
	deny    map[string]struct{}
	mapping map[string][]byte // old name -> new name, JSON-escaped without quotes
}

func (f *fieldFilter) empty() bool { return f.allow == nil && f.deny == nil && f.mapping == nil }

// name says whether key passes the filter and under which name.
func (f *fieldFilter) name(key []byte) ([]byte, bool) {
	if f.deny != nil {
		if _, ok := f.deny[string(key)]; ok {
			return nil, false
		}
	}
	if f.allow != nil {
		if _, ok := f.allow[string(key)]; !ok {
			return nil, false
		}
	}
	if f.mapping != nil {
		if n, ok := f.mapping[string(key)]; ok {
			return n, true
		}
	}
	return key, true
}

// mergeFields adds the fields of the object v that pass f.
func (m *merger) mergeFields(v []byte, f *fieldFilter) {
	jsonFields(v, func(key, val []byte) bool {
		if name, ok := f.name(key); ok {
			m.set(name, val, -1, 0)
		}
		return true
	})
}

// group adds v under key; an object is filtered by f first (into own).
func (m *merger) group(key []byte, v []byte, f *fieldFilter) {
	if f.empty() || v[0] != '{' {
		m.set(key, v, -1, 0)
		return
	}
	start := len(m.own)
	m.own = append(m.own, '{')
	n := 0
	jsonFields(v, func(k, val []byte) bool {
		name, ok := f.name(k)
		if !ok {
			return true
		}
		if n > 0 {
			m.own = append(m.own, ',')
		}
		n++
		m.own = append(m.own, '"')
		m.own = append(m.own, name...)
		m.own = append(m.own, '"', ':')
		m.own = append(m.own, val...)
		return true
	})
	m.own = append(m.own, '}')
	m.set(key, nil, int32(start), int32(len(m.own)-start))
}
