package config

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Redacted replaces every secret in what EncodeJSON writes: API keys, JWT
// and HMAC secrets, bcrypt hashes. A write that sends it back is refused
// (CheckNoRedacted): the secret it stood for is not known to the sender.
const Redacted = "<redacted>"

// EncodeYAML writes v, a Config or one of its parts, as a YAML document
// that Parse (or an edit) reads back into the same values, defaults filled
// in (comments of the file it came from are not kept). Secrets are written
// as they are: this is for where the configuration lives.
func EncodeYAML(v any) ([]byte, error) { return yaml.Marshal(v) }

// YAMLEncoder is EncodeYAML for a configuration that changes a route at a
// time: it keeps each route's YAML by its revision (rev.go) and encodes
// only the routes it has not seen, so writing back 10,000 routes after one
// changed costs copying them out, not 10,000 encodings (seconds on a busy
// machine). WriteTo streams the document, so a write-back allocates the
// changed routes' YAML and nothing in proportion to the whole. The routes
// come last in its output, written by routeYAML (yamlroute.go): the same
// values as EncodeYAML's, in block style where a policy's config was
// written as JSON. Not safe for concurrent use.
type YAMLEncoder struct {
	routes  map[Rev][]byte // may hold routes of older versions (see WriteTo)
	encoded atomic.Int64
}

// Encoded is how many routes it has encoded so far (not taken from what
// it kept): what a write-back cost. Safe to call during Encode.
func (e *YAMLEncoder) Encoded() int64 { return e.encoded.Load() }

// Encode returns c as EncodeYAML does (the same values), the routes'
// section at the end.
func (e *YAMLEncoder) Encode(c *Config) ([]byte, error) {
	var b bytes.Buffer
	err := e.WriteTo(&b, c)
	return b.Bytes(), err
}

// WriteTo writes c to w as Encode does.
func (e *YAMLEncoder) WriteTo(w io.Writer, c *Config) error {
	rest := *c
	rest.Routes = RouteList{}
	out, err := yaml.Marshal(&rest)
	if err != nil {
		return err
	}
	if _, err := w.Write(out); err != nil || c.Routes.Len() == 0 {
		return err
	}
	if _, err := io.WriteString(w, "routes:\n"); err != nil {
		return err
	}
	if e.routes == nil {
		e.routes = make(map[Rev][]byte, c.Routes.Len())
	}
	for i, r := range c.Routes.All() {
		rev := c.RouteRev(i)
		item, ok := e.routes[rev]
		if !ok || rev == 0 {
			if item, ok = routeYAML(nil, r); !ok {
				doc, err := yaml.Marshal(r)
				if err != nil {
					return err
				}
				item = listItem(doc)
			}
			e.encoded.Add(1)
			if rev != 0 {
				e.routes[rev] = item
			}
		}
		if _, err := w.Write(item); err != nil {
			return err
		}
	}
	// Each edit leaves the YAML of the route it replaced behind: forget
	// those once they are as many as the routes, an O(routes) pass every
	// O(routes) edits.
	if len(e.routes) > 2*c.Routes.Len()+64 {
		kept := make(map[Rev][]byte, c.Routes.Len())
		for i := range c.Routes.Len() {
			if rev := c.RouteRev(i); rev != 0 {
				kept[rev] = e.routes[rev]
			}
		}
		e.routes = kept
	}
	return nil
}

// listItem indents a YAML document as an item of a top-level list: the
// first line after "  - ", the others by four spaces (indenting every line
// alike keeps block scalars intact).
func listItem(doc []byte) []byte {
	out := make([]byte, 0, len(doc)+len(doc)/8+8)
	lines := bytes.SplitAfter(doc, []byte("\n"))
	for i, l := range lines {
		if len(l) == 0 {
			continue
		}
		if i == 0 {
			out = append(out, "  - "...)
		} else {
			out = append(out, "    "...)
		}
		out = append(out, l...)
	}
	return out
}

// EncodeJSON writes v, a Config or one of its parts, as JSON with its keys
// in the order of the YAML form and every secret replaced by Redacted.
func EncodeJSON(v any) ([]byte, error) { return encodeJSON(v, true) }

// EncodeJSONWithSecrets is EncodeJSON without the redaction, for what never
// leaves the process (merging a PATCH into the current resource).
func EncodeJSONWithSecrets(v any) ([]byte, error) { return encodeJSON(v, false) }

// encodeJSON writes v from its values, and the parts the direct way leaves
// through yaml.v3's node tree (jsonenc.go).
func encodeJSON(v any, redacting bool) ([]byte, error) {
	e := jsonValue{redacting: redacting}
	return e.append(nil, reflect.ValueOf(v), "")
}

// encodeJSONByNodes encodes v with yaml.v3 into a node tree, redacts the
// secrets there, and writes the tree as JSON.
func encodeJSONByNodes(v any, redacting bool) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	if redacting {
		redact(&n, "")
	}
	return appendJSON(nil, &n), nil
}

// secretFields are the fields, by the path of their list in a consumer's
// credentials, whose values are secrets.
var secretFields = map[string]string{
	"key_auth": "key", "basic_auth": "password_hash", "jwt": "secret", "hmac": "secret",
}

// redact replaces the secrets of the consumers found in n. field is the
// key n is the value of.
func redact(n *yaml.Node, field string) {
	if field == "credentials" && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			secret, ok := secretFields[n.Content[i].Value]
			if !ok || n.Content[i+1].Kind != yaml.SequenceNode {
				continue
			}
			for _, cred := range n.Content[i+1].Content {
				for j := 0; j+1 < len(cred.Content); j += 2 {
					if cred.Content[j].Value == secret {
						cred.Content[j+1].SetString(Redacted)
					}
				}
			}
		}
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redact(c, field)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redact(n.Content[i+1], n.Content[i].Value)
		}
	}
}

// appendJSON converts a YAML node tree to JSON: mappings keep their key
// order, scalars keep their type (a string that reads like a number stays
// a string).
func appendJSON(dst []byte, n *yaml.Node) []byte {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(dst, "null"...)
		}
		return appendJSON(dst, n.Content[0])
	case yaml.MappingNode:
		dst = append(dst, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, n.Content[i].Value)
			dst = append(dst, ':')
			dst = appendJSON(dst, n.Content[i+1])
		}
		return append(dst, '}')
	case yaml.SequenceNode:
		dst = append(dst, '[')
		for i, c := range n.Content {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, c)
		}
		return append(dst, ']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return append(dst, "null"...)
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return strconv.AppendBool(dst, b)
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return strconv.AppendInt(dst, i, 10)
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil && json.Valid(strconv.AppendFloat(nil, f, 'g', -1, 64)) {
				return strconv.AppendFloat(dst, f, 'g', -1, 64)
			}
		}
		return appendJSONString(dst, n.Value)
	}
	return append(dst, "null"...)
}

// appendJSONString writes s as encoding/json does without HTML escaping.
// Most strings of a config are printable ASCII without quotes or
// backslashes, which it writes as they are without an encoder.
func appendJSONString(dst []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		plain = s[i] >= 0x20 && s[i] < utf8.RuneSelf && s[i] != '"' && s[i] != '\\'
	}
	if plain {
		return append(append(append(dst, '"'), s...), '"')
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<redacted>" reads as it is
	_ = enc.Encode(s)        // a string always encodes
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// Pointer turns a configuration path ("routes[2].policies[0].config.count",
// `shared_dicts["a/b"]`) into a JSON pointer (RFC 6901:
// "/routes/2/policies/0/config/count", "/shared_dicts/a~1b"). The empty
// path is the whole document, "".
func Pointer(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); {
		switch path[i] {
		case '.':
			i++
			continue
		case '[':
			end := strings.IndexByte(path[i:], ']')
			if i+1 < len(path) && path[i+1] == '"' {
				// A quoted key: find the closing quote, then the bracket.
				if q, err := strconv.QuotedPrefix(path[i+1:]); err == nil {
					key, _ := strconv.Unquote(q)
					writeToken(&b, key)
					i += 1 + len(q) + 1
					continue
				}
			}
			if end < 0 {
				writeToken(&b, path[i+1:])
				return b.String()
			}
			writeToken(&b, path[i+1:i+end])
			i += end + 1
			continue
		}
		end := strings.IndexAny(path[i:], ".[")
		if end < 0 {
			end = len(path) - i
		}
		writeToken(&b, path[i:i+end])
		i += end
	}
	return b.String()
}

func writeToken(b *strings.Builder, tok string) {
	b.WriteByte('/')
	tok = strings.ReplaceAll(tok, "~", "~0")
	b.WriteString(strings.ReplaceAll(tok, "/", "~1"))
}

// CheckNoRedacted returns an error at the first place doc (a resource as
// JSON or YAML) holds the Redacted marker as a value: a secret read from
// the Admin API and sent back unchanged, which would replace the real one.
// path is the resource's place ("consumers[3]"), file names doc.
func CheckNoRedacted(doc []byte, file, path string) error {
	if !mayHoldRedacted(doc) {
		return nil
	}
	var root yaml.Node
	if yaml.Unmarshal(doc, &root) != nil {
		return nil // the decoder reports it
	}
	if p, line, ok := findRedacted(&root, path, 0); ok {
		return Errors{{File: file, Line: line, Path: p, Msg: "is " + Redacted + ", the placeholder the Admin API shows for a secret: send the secret itself, or leave the credentials out of a PATCH to keep them"}}
	}
	return nil
}

// mayHoldRedacted reports whether a scalar of doc can read as Redacted: its
// text there, or an escape (JSON's \u, YAML's double-quoted escapes) or a
// tag that could spell it otherwise. Most documents have none of them, and
// skip a parse that cost as much as the edit's own (an Admin API change
// parses its body once more to validate it).
func mayHoldRedacted(doc []byte) bool {
	return bytes.Contains(doc, []byte(Redacted[1:len(Redacted)-1])) || bytes.ContainsAny(doc, "\\!")
}

func findRedacted(n *yaml.Node, path string, depth int) (string, int, bool) {
	if depth > maxDepth {
		return "", 0, false
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p, l, ok := findRedacted(c, path, depth+1); ok {
				return p, l, ok
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p, l, ok := findRedacted(c, path+"["+strconv.Itoa(i)+"]", depth+1); ok {
				return p, l, ok
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if p, l, ok := findRedacted(n.Content[i+1], keyPath(path, n.Content[i].Value), depth+1); ok {
				return p, l, ok
			}
		}
	case yaml.ScalarNode:
		if n.Value == Redacted {
			return path, n.Line, true
		}
	}
	return "", 0, false
}
