package engine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Variables name values of a request in the nginx spirit — remote_addr,
// arg_NAME, http_NAME, cookie_NAME, route, consumer — and feed one small
// template syntax used by limit keys, cache keys, header values and
// aggregation paths: "{consumer}:{arg_page}". A variable or template is
// compiled when the config is; evaluating it appends to a caller's buffer
// and allocates nothing.

// VarFunc appends the variable's value for x to dst; ok is false when the
// request has no value for it (an absent header, no consumer).
type VarFunc func(x *Ctx, dst []byte) (out []byte, ok bool)

// Variable is a compiled variable.
type Variable struct {
	Name string
	fn   VarFunc
}

// Append appends v's value to dst; ok is false when the request has none.
func (v Variable) Append(dst []byte, x *Ctx) ([]byte, bool) { return v.fn(x, dst) }

var variables = struct {
	sync.RWMutex
	exact    map[string]VarFunc
	prefixes map[string]func(rest string) (VarFunc, error)
}{
	exact:    map[string]VarFunc{},
	prefixes: map[string]func(string) (VarFunc, error){},
}

// RegisterVariable adds a variable by its full name ("jwt_sub"); call it
// from an init function. It panics on a duplicate.
func RegisterVariable(name string, fn VarFunc) {
	variables.Lock()
	defer variables.Unlock()
	if _, dup := variables.exact[name]; dup {
		panic("engine: variable registered twice: " + name)
	}
	variables.exact[name] = fn
}

// RegisterVariablePrefix adds a family of variables ("jwt_claim_" makes
// jwt_claim_company_id work): make is called once per name when a config
// is compiled, with the part after the prefix, and returns the variable's
// function or why the name is invalid. Call it from an init function.
func RegisterVariablePrefix(prefix string, make func(rest string) (VarFunc, error)) {
	variables.Lock()
	defer variables.Unlock()
	if _, dup := variables.prefixes[prefix]; dup {
		panic("engine: variable prefix registered twice: " + prefix)
	}
	variables.prefixes[prefix] = make
}

// ParseVariable compiles a variable name.
func ParseVariable(name string) (Variable, error) {
	variables.RLock()
	defer variables.RUnlock()
	if fn, ok := variables.exact[name]; ok {
		return Variable{Name: name, fn: fn}, nil
	}
	best := ""
	for p := range variables.prefixes {
		if strings.HasPrefix(name, p) && len(p) > len(best) {
			best = p
		}
	}
	if best == "" || len(name) == len(best) {
		return Variable{}, fmt.Errorf("unknown variable %q (known: %s)", name, knownVariables())
	}
	fn, err := variables.prefixes[best](name[len(best):])
	if err != nil {
		return Variable{}, fmt.Errorf("variable %q: %w", name, err)
	}
	return Variable{Name: name, fn: fn}, nil
}

func knownVariables() string {
	var names []string
	for n := range variables.exact {
		names = append(names, n)
	}
	for p := range variables.prefixes {
		names = append(names, p+"NAME")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Template is text with variables in braces: "{consumer}:{arg_page}".
// "{{" and "}}" stand for literal braces. Safe for concurrent use.
type Template struct {
	src   string
	parts []tplPart
}

type tplPart struct {
	lit string
	v   *Variable
}

// ParseTemplate compiles a template.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("template %q: '{' at %d is not closed", s, i)
			}
			v, err := ParseVariable(strings.TrimSpace(s[i+1 : i+end]))
			if err != nil {
				return nil, fmt.Errorf("template %q: %w", s, err)
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, tplPart{lit: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, tplPart{v: &v})
			i += end
		case c == '}':
			return nil, fmt.Errorf("template %q: '}' at %d has no '{' (write }} for a brace)", s, i)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tplPart{lit: lit.String()})
	}
	return t, nil
}

// String is the template's source.
func (t *Template) String() string { return t.src }

// Append appends the template's text for x to dst; an absent variable
// adds nothing. missing counts the variables that had no value.
func (t *Template) Append(dst []byte, x *Ctx) (out []byte, missing int) {
	for i := range t.parts {
		p := &t.parts[i]
		if p.v == nil {
			dst = append(dst, p.lit...)
			continue
		}
		var ok bool
		if dst, ok = p.v.fn(x, dst); !ok {
			missing++
		}
	}
	return dst, missing
}

// AppendEach is Append with each variable's value passed through value
// as it is appended: value gets dst with the value at dst[start:] and
// returns dst with it rewritten (escaped, say), so a policy that must
// encode values does not parse the template again. value is a plain
// function, not a closure, so that calling AppendEach allocates nothing.
func (t *Template) AppendEach(dst []byte, x *Ctx, value func(x *Ctx, dst []byte, start int) []byte) (out []byte, missing int) {
	for i := range t.parts {
		p := &t.parts[i]
		if p.v == nil {
			dst = append(dst, p.lit...)
			continue
		}
		start := len(dst)
		var ok bool
		if dst, ok = p.v.fn(x, dst); !ok {
			missing++
		}
		dst = value(x, dst, start)
	}
	return dst, missing
}

// Variables lists the names of the template's variables.
func (t *Template) Variables() []string {
	var names []string
	for _, p := range t.parts {
		if p.v != nil {
			names = append(names, p.v.Name)
		}
	}
	return names
}

// The built-in variables.
func init() {
	RegisterVariable("remote_addr", func(x *Ctx, dst []byte) ([]byte, bool) {
		return append(dst, x.ClientIP()...), len(x.ClientIP()) > 0
	})
	RegisterVariable("host", func(x *Ctx, dst []byte) ([]byte, bool) {
		return append(dst, x.Host()...), x.req.HasHost
	})
	RegisterVariable("method", func(x *Ctx, dst []byte) ([]byte, bool) {
		return append(dst, x.MethodName()...), true
	})
	RegisterVariable("uri", func(x *Ctx, dst []byte) ([]byte, bool) {
		return append(dst, x.Target()...), true
	})
	RegisterVariable("path", func(x *Ctx, dst []byte) ([]byte, bool) {
		return append(dst, x.Path()...), true
	})
	RegisterVariable("args", func(x *Ctx, dst []byte) ([]byte, bool) {
		return append(dst, x.Query()...), x.req.HasQuery
	})
	RegisterVariable("request_id", func(x *Ctx, dst []byte) ([]byte, bool) {
		return append(dst, x.RequestID()...), true
	})
	RegisterVariable("route", func(x *Ctx, dst []byte) ([]byte, bool) {
		n := x.RouteName()
		return append(dst, n...), n != ""
	})
	RegisterVariable("upstream", func(x *Ctx, dst []byte) ([]byte, bool) {
		n := x.UpstreamName()
		return append(dst, n...), n != ""
	})
	RegisterVariable("consumer", func(x *Ctx, dst []byte) ([]byte, bool) {
		c := x.Consumer()
		if c == nil {
			return dst, false
		}
		return append(dst, c.Name...), true
	})
	RegisterVariable("status", func(x *Ctx, dst []byte) ([]byte, bool) {
		st := x.ResponseStatus()
		return strconv.AppendInt(dst, int64(st), 10), st != 0
	})
	RegisterVariablePrefix("arg_", func(name string) (VarFunc, error) {
		return func(x *Ctx, dst []byte) ([]byte, bool) {
			v, ok := x.Arg(name)
			return append(dst, v...), ok
		}, nil
	})
	RegisterVariablePrefix("http_", func(name string) (VarFunc, error) {
		// nginx's rule: http_x_api_key is the field X-Api-Key.
		field := strings.ReplaceAll(name, "_", "-")
		return func(x *Ctx, dst []byte) ([]byte, bool) {
			v, ok := x.Header(field)
			return append(dst, v...), ok
		}, nil
	})
	RegisterVariablePrefix("cookie_", func(name string) (VarFunc, error) {
		return func(x *Ctx, dst []byte) ([]byte, bool) {
			v, ok := x.Cookie(name)
			return append(dst, v...), ok
		}, nil
	})
	RegisterVariablePrefix("path_param_", func(name string) (VarFunc, error) {
		return func(x *Ctx, dst []byte) ([]byte, bool) {
			v, ok := x.Param(name)
			return append(dst, v...), ok
		}, nil
	})
	RegisterVariablePrefix("consumer_meta_", func(name string) (VarFunc, error) {
		return func(x *Ctx, dst []byte) ([]byte, bool) {
			c := x.Consumer()
			if c == nil {
				return dst, false
			}
			v, ok := c.Meta[name]
			return append(dst, v...), ok
		}, nil
	})
}
