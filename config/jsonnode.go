package config

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

// An Admin API change arrives as a JSON document, twenty a second at the
// churn cell's rate. yaml.v3 parses it as YAML, with a parser and a token
// queue set up for every document: about 17 KB of garbage for a route of
// one line. jsonNodes builds the node tree yaml.v3 builds for the same
// JSON (the same kinds, tags, values, styles, lines and columns; one tree
// the decoder walks either way) without them, for the documents it knows
// yaml.v3 reads as JSON: printable ASCII, spaces and line feeds between
// tokens, no \u or \/ escapes. Anything else, invalid JSON included, it leaves
// to yaml.v3 (ok false), which then says what is wrong as it always did.
// TestJSONNodesAreYAMLv3s and FuzzJSONNodes hold the two to the same tree.

// jsonNodes returns doc's document node, as yaml.v3's Decoder returns it.
func jsonNodes(doc []byte) (root *yaml.Node, ok bool) {
	p := jsonScanner{doc: doc, line: 1, lineStart: 0}
	if len(doc) == 0 || doc[0] != '{' {
		return nil, false
	}
	n, ok := p.value(0)
	if !ok {
		return nil, false
	}
	if p.space(); p.pos != len(doc) {
		return nil, false // a second value, or trailing text
	}
	return &yaml.Node{Kind: yaml.DocumentNode, Line: 1, Column: 1, Content: []*yaml.Node{n}}, true
}

type jsonScanner struct {
	doc       []byte
	pos       int
	line      int
	lineStart int // offset of the current line's first byte
}

// space skips blanks and line feeds; tabs and carriage returns, which
// YAML treats otherwise in places, are not skipped (and so refused).
func (p *jsonScanner) space() {
	for p.pos < len(p.doc) {
		switch p.doc[p.pos] {
		case ' ':
		case '\n':
			p.line++
			p.lineStart = p.pos + 1
		default:
			return
		}
		p.pos++
	}
}

// at returns a node of kind k at the current position.
func (p *jsonScanner) at(k yaml.Kind, style yaml.Style, tag string) *yaml.Node {
	return &yaml.Node{Kind: k, Style: style, Tag: tag, Line: p.line, Column: p.pos - p.lineStart + 1}
}

func (p *jsonScanner) value(depth int) (*yaml.Node, bool) {
	if depth > maxDepth {
		return nil, false
	}
	p.space()
	if p.pos >= len(p.doc) {
		return nil, false
	}
	switch c := p.doc[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	for _, lit := range [...]struct{ text, tag string }{{"true", "!!bool"}, {"false", "!!bool"}, {"null", "!!null"}} {
		if len(p.doc)-p.pos >= len(lit.text) && string(p.doc[p.pos:p.pos+len(lit.text)]) == lit.text {
			n := p.at(yaml.ScalarNode, 0, lit.tag)
			n.Value = lit.text
			p.pos += len(lit.text)
			return n, p.delimited()
		}
	}
	return nil, false
}

// delimited reports whether a plain scalar (a number or a literal) ends
// where JSON ends it: yaml.v3 reads "truex" or "1x" as one scalar.
func (p *jsonScanner) delimited() bool {
	if p.pos == len(p.doc) {
		return true
	}
	switch p.doc[p.pos] {
	case ' ', '\n', ',', ']', '}':
		return true
	}
	return false
}

func (p *jsonScanner) object(depth int) (*yaml.Node, bool) {
	n := p.at(yaml.MappingNode, yaml.FlowStyle, "!!map")
	p.pos++ // {
	p.space()
	if p.pos < len(p.doc) && p.doc[p.pos] == '}' {
		p.pos++
		return n, true
	}
	for {
		p.space()
		if p.pos >= len(p.doc) || p.doc[p.pos] != '"' {
			return nil, false
		}
		keyLine, keyStart := p.line, p.pos
		key, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		// YAML's implicit keys are of one line with their ":", and at
		// most 1024 characters long.
		if p.pos >= len(p.doc) || p.doc[p.pos] != ':' || p.line != keyLine || p.pos-keyStart > 1000 {
			return nil, false
		}
		p.pos++
		val, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		n.Content = append(n.Content, key, val)
		if done, ok := p.after('}'); done || !ok {
			return n, ok
		}
	}
}

// after reads what follows an entry of a collection that close ends: a
// comma (done false) or close (done true); ok is false for anything else.
func (p *jsonScanner) after(close byte) (done, ok bool) {
	p.space()
	if p.pos >= len(p.doc) {
		return false, false
	}
	switch p.doc[p.pos] {
	case ',':
		p.pos++
		return false, true
	case close:
		p.pos++
		return true, true
	}
	return false, false
}

func (p *jsonScanner) array(depth int) (*yaml.Node, bool) {
	n := p.at(yaml.SequenceNode, yaml.FlowStyle, "!!seq")
	p.pos++ // [
	p.space()
	if p.pos < len(p.doc) && p.doc[p.pos] == ']' {
		p.pos++
		return n, true
	}
	for {
		item, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		n.Content = append(n.Content, item)
		if done, ok := p.after(']'); done || !ok {
			return n, ok
		}
	}
}

// str reads a string of printable ASCII with JSON's short escapes.
func (p *jsonScanner) str() (*yaml.Node, bool) {
	n := p.at(yaml.ScalarNode, yaml.DoubleQuotedStyle, "!!str")
	p.pos++ // "
	start, escaped := p.pos, false
	for ; p.pos < len(p.doc); p.pos++ {
		c := p.doc[p.pos]
		switch {
		case c == '"':
			raw := p.doc[start:p.pos]
			p.pos++
			if !escaped {
				n.Value = string(raw)
				return n, true
			}
			v, ok := unescapeJSON(raw)
			n.Value = v
			return n, ok
		case c == '\\':
			if p.pos+1 >= len(p.doc) || p.doc[p.pos+1] == 'u' {
				return nil, false
			}
			escaped = true
			p.pos++ // the escaped byte, checked by unescapeJSON
		case c < 0x20 || c > 0x7e:
			return nil, false
		}
	}
	return nil, false
}

// unescapeJSON decodes JSON's short escapes (\u ones never get here);
// ok is false for \/, which yaml.v3 refuses.
func unescapeJSON(raw []byte) (string, bool) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			return "", false
		}
	}
	return string(out), true
}

// number reads a JSON number and tags it as yaml.v3 resolves its text:
// !!int when it fits 64 bits, else !!float.
func (p *jsonScanner) number() (*yaml.Node, bool) {
	n := p.at(yaml.ScalarNode, 0, "")
	start := p.pos
	digits := func() bool {
		from := p.pos
		for p.pos < len(p.doc) && p.doc[p.pos] >= '0' && p.doc[p.pos] <= '9' {
			p.pos++
		}
		return p.pos > from
	}
	if p.doc[p.pos] == '-' {
		p.pos++
	}
	intStart := p.pos
	if !digits() || p.doc[intStart] == '0' && p.pos-intStart > 1 {
		return nil, false // no digits, or a leading zero (YAML 1.1's octal)
	}
	if p.pos < len(p.doc) && p.doc[p.pos] == '.' {
		p.pos++
		if !digits() {
			return nil, false
		}
	}
	if p.pos < len(p.doc) && (p.doc[p.pos] == 'e' || p.doc[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.doc) && (p.doc[p.pos] == '+' || p.doc[p.pos] == '-') {
			p.pos++
		}
		if !digits() {
			return nil, false
		}
	}
	n.Value = string(p.doc[start:p.pos])
	if _, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		n.Tag = "!!int"
	} else if _, err := strconv.ParseUint(n.Value, 10, 64); err == nil {
		n.Tag = "!!int"
	} else if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
		n.Tag = "!!float"
	} else {
		return nil, false
	}
	return n, p.delimited()
}
