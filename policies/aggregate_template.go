package policies

import (
	"fmt"
	"strings"

	"github.com/sluice-gw/sluice/engine"
)

// callTemplate is a template of aggregate: the engine's variables in
// single braces ("{path_param_id}", "{arg_page}", "{consumer}") and values
// of earlier calls' results in double braces, "{{resp.user.id}}": the
// field id of the result of the call named user. The results are the
// policy's per-request state, so they are read here rather than through an
// engine variable prefix: a resp_ variable would be visible to every
// policy's templates (log lines, cache keys) where no result exists, its
// dotted paths do not fit variable names, and the calls a template names
// must be known when the config is compiled to order the calls in steps.
//
// The text between placeholders is an engine template, so "{{" that does
// not start "{{resp." is the engine's literal brace: a JSON body is written
// '{{"id":{{resp.user.id}}}}'. Safe for concurrent use.
type callTemplate struct {
	src   string
	parts []callPart
	deps  []int // the calls whose results it reads
}

// callPart is a run of engine template or one result reference.
type callPart struct {
	tpl  *engine.Template // nil for a reference
	call int              // the referenced call's index
	path []string         // keys inside its result
	ref  string           // "resp.user.id", for errors
}

// escapeMode says how a result value is written into a template's text.
type escapeMode uint8

const (
	escapeURL   escapeMode = iota // text, percent-encoded (path and query)
	escapeField                   // text, as it is (a header value)
	escapeJSON                    // the JSON value as the backend wrote it (a body)
)

// parseCallTemplate compiles s; callIndex maps the names of the calls that
// may be referenced (those before the call being compiled) to their index.
func parseCallTemplate(s string, callIndex map[string]int) (*callTemplate, error) {
	t := &callTemplate{src: s}
	rest := s
	for rest != "" {
		i := strings.Index(rest, "{{resp.")
		lit := rest
		if i >= 0 {
			lit = rest[:i]
		}
		if lit != "" {
			et, err := engine.ParseTemplate(lit)
			if err != nil {
				return nil, err
			}
			t.parts = append(t.parts, callPart{tpl: et})
		}
		if i < 0 {
			break
		}
		end := strings.Index(rest[i:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("template %q: %q is not closed with }}", s, rest[i:])
		}
		ref := rest[i+2 : i+end]
		keys := strings.Split(ref, ".")[1:]
		if len(keys) < 1 || keys[0] == "" {
			return nil, fmt.Errorf("template %q: {{%s}} must name a call: {{resp.CALL.field}}", s, ref)
		}
		for _, k := range keys[1:] {
			if k == "" {
				return nil, fmt.Errorf("template %q: {{%s}} has an empty key", s, ref)
			}
		}
		ci, ok := callIndex[keys[0]]
		if !ok {
			return nil, fmt.Errorf("template %q: {{%s}}: no call %q before this one (a call may use the results of the calls listed before it)", s, ref, keys[0])
		}
		t.parts = append(t.parts, callPart{call: ci, path: keys[1:], ref: ref})
		t.addDep(ci)
		rest = rest[i+end+2:]
	}
	return t, nil
}

// constant reports that t reads no variable and no result: its text is
// the same for every request.
func (t *callTemplate) constant() bool {
	for i := range t.parts {
		if p := &t.parts[i]; p.tpl == nil || len(p.tpl.Variables()) > 0 {
			return false
		}
	}
	return true
}

// badLiteralByte returns the first byte of t's literal text (outside
// variables and result references, whose values are checked when a
// request gives them) that ok refuses: literal text the sub-request's
// check would refuse fails every call, so the config refuses it.
func (t *callTemplate) badLiteralByte(ok func(c byte) bool) (bad byte, found bool) {
	for i := range t.parts {
		if t.parts[i].tpl == nil {
			continue
		}
		s := t.parts[i].tpl.String() // engine.ParseTemplate's syntax, already checked
		for j := 0; j < len(s); j++ {
			switch c := s[j]; {
			case (c == '{' || c == '}') && j+1 < len(s) && s[j+1] == c:
				j++ // a literal brace
			case c == '{':
				j += strings.IndexByte(s[j:], '}') // a variable
			case !ok(c):
				return c, true
			}
		}
	}
	return 0, false
}

func (t *callTemplate) addDep(ci int) {
	for _, d := range t.deps {
		if d == ci {
			return
		}
	}
	t.deps = append(t.deps, ci)
}

// results gives a template the trimmed JSON result of call i (nil when it
// has none).
type results interface{ result(i int) []byte }

// appendTo appends the template's text for x and the results to dst. A
// variable without a value adds nothing; bad names the first reference
// that has no value of the kind mode needs ("" when all had one).
func (t *callTemplate) appendTo(dst []byte, x *engine.Ctx, rs results, mode escapeMode) (out []byte, bad string) {
	for i := range t.parts {
		p := &t.parts[i]
		if p.tpl != nil {
			dst, _ = p.tpl.Append(dst, x)
			continue
		}
		v, ok := jsonPath(rs.result(p.call), p.path)
		if !ok {
			return dst, p.ref
		}
		if mode == escapeJSON {
			dst = append(dst, v...)
			continue
		}
		n := len(dst)
		if dst, ok = appendJSONText(dst, v); !ok {
			return dst, p.ref
		}
		if mode == escapeURL {
			dst = percentEncodeTail(dst, n)
		}
	}
	return dst, ""
}

// percentEncodeTail percent-encodes dst[from:] in place (growing dst):
// RFC 3986's unreserved characters stay, every other byte is %XX, so a
// backend's value never adds a separator ('/', '?', '&', '=', '#') to a
// path or a query.
func percentEncodeTail(dst []byte, from int) []byte {
	extra := 0
	for _, c := range dst[from:] {
		if !unreserved(c) {
			extra += 2
		}
	}
	if extra == 0 {
		return dst
	}
	n := len(dst)
	for i := 0; i < extra; i++ {
		dst = append(dst, 0)
	}
	const hex = "0123456789ABCDEF"
	w := len(dst)
	for r := n - 1; r >= from; r-- {
		c := dst[r]
		if unreserved(c) {
			w--
			dst[w] = c
			continue
		}
		w -= 3
		dst[w], dst[w+1], dst[w+2] = '%', hex[c>>4], hex[c&0xf]
	}
	return dst
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
