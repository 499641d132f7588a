package policies

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// The `params` policy: a route's declared request parameters (the "req
// stage" of an API gateway). Every parameter the backend accepts is
// declared with its type, place and constraints; the policy checks them
// in the access phase, refuses a request with every failing parameter
// listed (400), removes undeclared query and body parameters, fills
// defaults and constants, forwards parameters under other names or in
// other places, and publishes the values to later policies (Params, and
// the variables param_NAME for cache keys, limits and logs).
//
// Files: params.go (config, compilation, the access handler),
// params_values.go (the per-request values, collection and checks),
// params_json.go (the JSON body scanner), params_forward.go (what is sent
// upstream).

// paramsConfig is the `params` policy's config.
type paramsConfig struct {
	// Methods the route accepts; another method is answered 405. Default:
	// every method.
	Methods []string `yaml:"methods" desc:"methods the route accepts (GET, POST...); others get 405; default every method"`
	// Params are the declared parameters.
	Params []paramConfig `yaml:"params" desc:"the declared parameters"`
	// Undeclared is what happens to query and body parameters that are not
	// declared: remove (default: dropped before forwarding), keep, or
	// reject (a 400 listing them). Undeclared headers always pass.
	Undeclared string `yaml:"undeclared" enum:"remove|keep|reject" desc:"undeclared query and body parameters: remove (default), keep, or reject with 400; undeclared headers always pass"`
	// MaxBody bounds the request body read to check body parameters; a
	// longer one is answered 413. Default 1MiB.
	MaxBody config.Size `yaml:"max_body" desc:"largest request body read for body parameters (a longer one gets 413); default 1MiB"`
	// MaxParams bounds the number of query or body parameters a request
	// may carry (declared or not); more is a 400. Default 100.
	MaxParams int `yaml:"max_params" desc:"most query or body parameters a request may carry; default (or 0) 100"`
	// MaxDepth bounds the nesting of a JSON body; deeper is a 400.
	// Default 32.
	MaxDepth int `yaml:"max_depth" desc:"deepest nesting of a JSON body; default (or 0) 32"`
}

// paramConfig is one declared parameter.
type paramConfig struct {
	// Name as the client sends it. Required.
	Name string `yaml:"name" desc:"the parameter's name as the client sends it; required"`
	// Type: string (default), number, boolean, object (a JSON object),
	// list (a JSON array) or file (a multipart upload, in: body only).
	Type string `yaml:"type" enum:"string|number|boolean|object|list|file" desc:"string (default), number, boolean, object (JSON object), list (JSON array), file (multipart upload)"`
	// In is where the client sends it: query (default), header or body
	// (form, JSON or multipart, by the request's Content-Type).
	In string `yaml:"in" enum:"query|header|body" desc:"where the client sends it: query (default), header, body (form, JSON or multipart by Content-Type)"`
	// Required: the parameter must be present (it may be empty).
	Required bool `yaml:"required" desc:"the parameter must be present (it may be empty)"`
	// Default is the value filled in when the parameter is absent (text;
	// JSON text for object and list). Default: none.
	Default *string `yaml:"default" desc:"value filled in when absent (JSON text for object and list)"`
	// Constant is the value always forwarded, whatever the client sent.
	Constant *string `yaml:"constant" desc:"value always forwarded, whatever the client sent"`
	// MinLength and MaxLength bound a string's length in characters.
	MinLength *int `yaml:"min_length" desc:"shortest string, in characters"`
	MaxLength *int `yaml:"max_length" desc:"longest string, in characters"`
	// Pattern is a regular expression (RE2) a string must match somewhere
	// (anchor it with ^ and $ to match the whole).
	Pattern string `yaml:"pattern" desc:"RE2 expression a string must match (anchor with ^...$ for the whole value)"`
	// Enum lists the values a string or number may take.
	Enum []string `yaml:"enum" desc:"the values a string or number may take"`
	// Min and Max bound a number; Integer refuses fractions.
	Min     *float64 `yaml:"min" desc:"smallest number"`
	Max     *float64 `yaml:"max" desc:"largest number"`
	Integer bool     `yaml:"integer" desc:"the number must be an integer"`
	// MinItems and MaxItems bound a list's length.
	MinItems *int `yaml:"min_items" desc:"fewest list items"`
	MaxItems *int `yaml:"max_items" desc:"most list items"`
	// MaxSize bounds a file's size. Default: the policy's max_body.
	MaxSize config.Size `yaml:"max_size" desc:"largest file; default max_body"`
	// ContentTypes a file may have: "image/png", "image/*", a structured
	// suffix "+json", or "*" for any. Default any.
	ContentTypes []string `yaml:"content_types" desc:"content types a file may have: type/subtype (image/png), type/* (image/*), a structured suffix (+json) or * for any, without parameters; default any"`
	// ForwardAs is the name the backend receives it under. Default Name.
	ForwardAs string `yaml:"forward_as" desc:"name the backend receives it under; default name"`
	// ForwardIn is where the backend receives it: query, header or body.
	// Default In. A file stays in the body.
	ForwardIn string `yaml:"forward_in" enum:"query|header|body" desc:"where the backend receives it: query, header, body; default in"`
}

type paramType uint8

const (
	ptString paramType = iota
	ptNumber
	ptBool
	ptObject
	ptList
	ptFile
)

var paramTypeNames = [...]string{"string", "number", "boolean", "object", "list", "file"}

type paramPlace uint8

const (
	inQuery paramPlace = iota
	inHeader
	inBody
)

var paramPlaceNames = [...]string{"query", "header", "body"}

// declaredParam is a compiled parameter.
type declaredParam struct {
	name       string
	typ        paramType
	in         paramPlace
	required   bool
	hasDefault bool
	def        string
	hasConst   bool
	constant   string
	minLen     int // -1: none
	maxLen     int
	pattern    *regexp.Regexp
	enum       []string
	enumNums   []float64
	hasMin     bool
	min        float64
	hasMax     bool
	max        float64
	integer    bool
	minItems   int // -1: none
	maxItems   int
	maxSize    int64
	ctypes     []string
	fwdName    string
	fwdIn      paramPlace
	moved      bool // forwarded under another name or in another place
}

type undeclaredRule uint8

const (
	undeclaredRemove undeclaredRule = iota
	undeclaredKeep
	undeclaredReject
)

// params is the compiled policy.
type params struct {
	methods    []string // upper case; empty: every method
	allow      []byte   // "Allow: GET, POST\r\n"
	decl       []declaredParam
	undeclared undeclaredRule
	maxBody    int64
	maxParams  int
	maxDepth   int
	bodyParams bool  // some parameter is read from, or forwarded to, the body
	headerFwd  bool  // some parameter is written to an upstream header
	sorted     []int // indexes of decl sorted by name
	pool       perWorker[[]*ParamValues]
}

// paramsPriority runs the checks after authentication (the consumer) and
// before the limits (900), which may key on param_NAME.
const paramsPriority = 950

const (
	defaultParamsMaxBody   = 1 << 20
	defaultParamsMaxParams = 100
	defaultParamsMaxDepth  = 32
)

func init() {
	RegisterConfig("params", paramsConfig{}, newParams)
}

func newParams(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg paramsConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &params{maxBody: int64(cfg.MaxBody), maxParams: cfg.MaxParams, maxDepth: cfg.MaxDepth}
	if p.maxBody == 0 {
		p.maxBody = defaultParamsMaxBody
	}
	// 0 is the default; a negative bound was quietly the default too,
	// which hid a typo (max_params: -1 read as "no limit").
	if p.maxParams < 0 {
		return nil, config.FieldError(spec, "max_params", fmt.Sprintf("must be >= 0 (0: the default, %d), got %d", defaultParamsMaxParams, p.maxParams))
	}
	if p.maxDepth < 0 {
		return nil, config.FieldError(spec, "max_depth", fmt.Sprintf("must be >= 0 (0: the default, %d), got %d", defaultParamsMaxDepth, p.maxDepth))
	}
	if p.maxParams == 0 {
		p.maxParams = defaultParamsMaxParams
	}
	if p.maxDepth == 0 {
		p.maxDepth = defaultParamsMaxDepth
	}
	switch cfg.Undeclared {
	case "", "remove":
	case "keep":
		p.undeclared = undeclaredKeep
	case "reject":
		p.undeclared = undeclaredReject
	default:
		return nil, config.FieldError(spec, "undeclared", fmt.Sprintf(`must be remove, keep or reject, got %q`, cfg.Undeclared))
	}
	for i, m := range cfg.Methods {
		if m == "" || !http1.ValidFieldName(m) {
			return nil, config.FieldError(spec, "methods["+itoa(i)+"]", fmt.Sprintf("not a method: %q", m))
		}
		p.methods = append(p.methods, strings.ToUpper(m))
	}
	if len(p.methods) > 0 {
		p.allow = []byte("Allow: " + strings.Join(p.methods, ", ") + "\r\n")
	}
	seen := map[string]bool{}
	for i, pc := range cfg.Params {
		at := "params[" + itoa(i) + "]"
		d, err := compileParam(spec, at, pc, p.maxBody)
		if err != nil {
			return nil, err
		}
		k := paramPlaceNames[d.in] + ":" + d.name
		if d.in == inHeader {
			k = strings.ToLower(k)
		}
		if seen[k] {
			return nil, config.FieldError(spec, at+".name", fmt.Sprintf("%q is declared twice in %s", d.name, paramPlaceNames[d.in]))
		}
		seen[k] = true
		if d.in == inBody || d.fwdIn == inBody {
			p.bodyParams = true
		}
		if d.fwdIn == inHeader {
			p.headerFwd = true
		}
		p.decl = append(p.decl, d)
	}
	p.sortByName()
	if len(p.decl) == 0 && len(p.methods) == 0 {
		return nil, config.FieldError(spec, "", "declares nothing: set params or methods")
	}
	return p, nil
}

func parsePlace(s string, def paramPlace) (paramPlace, bool) {
	switch s {
	case "":
		return def, true
	case "query":
		return inQuery, true
	case "header":
		return inHeader, true
	case "body":
		return inBody, true
	}
	return 0, false
}

func compileParam(spec config.PolicySpec, at string, pc paramConfig, maxBody int64) (declaredParam, error) {
	d := declaredParam{name: pc.Name, required: pc.Required, minLen: -1, maxLen: -1, minItems: -1, maxItems: -1, integer: pc.Integer}
	fail := func(field, format string, args ...any) (declaredParam, error) {
		return declaredParam{}, config.FieldErrorf(spec, at+field, format, args...)
	}
	if pc.Name == "" || strings.ContainsAny(pc.Name, "&=#?\" \t\r\n") {
		return fail(".name", "a parameter needs a name without &, =, #, ?, quotes or spaces, got %q", pc.Name)
	}
	switch pc.Type {
	case "", "string":
		d.typ = ptString
	case "number":
		d.typ = ptNumber
	case "boolean":
		d.typ = ptBool
	case "object":
		d.typ = ptObject
	case "list":
		d.typ = ptList
	case "file":
		d.typ = ptFile
	default:
		return fail(".type", "must be string, number, boolean, object, list or file, got %q", pc.Type)
	}
	var ok bool
	if d.in, ok = parsePlace(pc.In, inQuery); !ok {
		return fail(".in", "must be query, header or body, got %q", pc.In)
	}
	if d.in == inHeader && !http1.ValidFieldName(pc.Name) {
		return fail(".name", "a header parameter needs a valid field name, got %q", pc.Name)
	}
	if d.fwdIn, ok = parsePlace(pc.ForwardIn, d.in); !ok {
		return fail(".forward_in", "must be query, header or body, got %q", pc.ForwardIn)
	}
	d.fwdName = pc.ForwardAs
	if d.fwdName == "" {
		d.fwdName = pc.Name
	}
	if strings.ContainsAny(d.fwdName, "&=#?\" \t\r\n") || d.fwdIn == inHeader && !http1.ValidFieldName(d.fwdName) {
		return fail(".forward_as", "not a valid name for %s: %q", paramPlaceNames[d.fwdIn], d.fwdName)
	}
	if d.fwdIn == inHeader {
		if why := gatewayOwned(d.fwdName, true); why != "" {
			return fail(".forward_as", "%s %s", d.fwdName, why)
		}
	}
	if d.typ == ptFile && (d.in != inBody || d.fwdIn != inBody) {
		return fail(".in", "a file parameter is read from and forwarded in a multipart body (in: body)")
	}
	d.moved = d.fwdName != d.name || d.fwdIn != d.in
	if pc.MinLength != nil || pc.MaxLength != nil || pc.Pattern != "" {
		if d.typ != ptString {
			return fail("", "min_length, max_length and pattern are for strings")
		}
	}
	if pc.MinLength != nil {
		if *pc.MinLength < 0 {
			return fail(".min_length", "must be >= 0")
		}
		d.minLen = *pc.MinLength
	}
	if pc.MaxLength != nil {
		if *pc.MaxLength < 0 || *pc.MaxLength < d.minLen {
			return fail(".max_length", "must be >= 0 and >= min_length")
		}
		d.maxLen = *pc.MaxLength
	}
	if pc.Pattern != "" {
		re, err := regexp.Compile(pc.Pattern)
		if err != nil {
			return fail(".pattern", "%v", err)
		}
		d.pattern = re
	}
	if pc.Min != nil || pc.Max != nil || pc.Integer {
		if d.typ != ptNumber {
			return fail("", "min, max and integer are for numbers")
		}
	}
	if pc.Min != nil {
		d.hasMin, d.min = true, *pc.Min
	}
	if pc.Max != nil {
		if d.hasMin && *pc.Max < d.min {
			return fail(".max", "must be >= min")
		}
		d.hasMax, d.max = true, *pc.Max
	}
	if len(pc.Enum) > 0 {
		switch d.typ {
		case ptString:
			d.enum = pc.Enum
		case ptNumber:
			for j, e := range pc.Enum {
				f, ok, huge := parseJSONNumber([]byte(e))
				if huge {
					return fail(".enum["+itoa(j)+"]", "beyond a 64-bit float's range (±1.8e308): %q", e)
				}
				if !ok {
					return fail(".enum["+itoa(j)+"]", "not a number: %q", e)
				}
				d.enumNums = append(d.enumNums, f)
			}
		default:
			return fail(".enum", "is for strings and numbers")
		}
	}
	if pc.MinItems != nil || pc.MaxItems != nil {
		if d.typ != ptList {
			return fail("", "min_items and max_items are for lists")
		}
	}
	if pc.MinItems != nil {
		if *pc.MinItems < 0 {
			return fail(".min_items", "must be >= 0")
		}
		d.minItems = *pc.MinItems
	}
	if pc.MaxItems != nil {
		if *pc.MaxItems < 0 || *pc.MaxItems < d.minItems {
			return fail(".max_items", "must be >= 0 and >= min_items")
		}
		d.maxItems = *pc.MaxItems
	}
	if (pc.MaxSize != 0 || len(pc.ContentTypes) > 0) && d.typ != ptFile {
		return fail("", "max_size and content_types are for files")
	}
	d.maxSize = int64(pc.MaxSize)
	if d.maxSize <= 0 || d.maxSize > maxBody {
		d.maxSize = maxBody
	}
	anyType := false
	for i, ct := range pc.ContentTypes {
		ct, err := contentTypeEntry(ct)
		if err != nil {
			return fail(fmt.Sprintf(".content_types[%d]", i), "%s", err.Error())
		}
		anyType = anyType || ct == "*"
		d.ctypes = append(d.ctypes, ct)
	}
	if anyType {
		d.ctypes = nil
	}
	if pc.Default != nil && pc.Constant != nil {
		return fail(".default", "a constant parameter has no default")
	}
	if pc.Default != nil {
		if d.typ == ptFile {
			return fail(".default", "a file has no default")
		}
		if msg := d.check([]byte(*pc.Default), false); msg != "" {
			return fail(".default", "the default %s", msg)
		}
		d.hasDefault, d.def = true, *pc.Default
	}
	if pc.Constant != nil {
		if d.typ == ptFile {
			return fail(".constant", "a file has no constant")
		}
		if msg := d.check([]byte(*pc.Constant), false); msg != "" {
			return fail(".constant", "the constant %s", msg)
		}
		d.hasConst, d.constant = true, *pc.Constant
	}
	return d, nil
}

func (p *params) Priority() int { return paramsPriority }

func (p *params) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	if len(p.decl) > 0 {
		c.Add(engine.PhaseLog, p.release)
	}
	return nil
}

// ParamValues are a request's declared parameters as checked (defaults
// and constants applied), for the policies after `params` (Params). They
// belong to the request: read them on its worker while it runs, and copy
// what you keep. Not safe for concurrent use.
type ParamValues struct {
	p        *params
	worker   int
	vals     []paramValue // one per declared parameter, in declaration order
	buf      []byte       // the values' bytes; paramValue spans index it
	fails    []paramFailure
	extra    []byte // undeclared names, for a reject; the rebuilt target and body
	out      []byte // the 400 body
	dropped  bool   // an undeclared query parameter was removed
	bodyDrop bool   // an undeclared body parameter was removed
	nargs    int
	files    []paramFile
}

// paramValue is one parameter's value: a span of ParamValues.buf.
type paramValue struct {
	off, n  uint32
	present bool // sent by the client (or filled by a default or constant)
	filled  bool // a default or constant, not the client's
	jsonRaw bool // the bytes are JSON text (from a JSON body, any type but string)
	items   int  // list items
	file    int  // index in files + 1 for a file parameter
}

type paramFile struct {
	name, ctype string
}

type paramFailure struct {
	name string
	in   paramPlace
	msg  string
}

// paramsKey holds the request's *ParamValues: the shared key other
// policies read through Params.
var paramsKey = engine.NewKey[*ParamValues]("params")

// Params returns the request's declared parameters, or nil when no
// params policy checked it.
func Params(x *engine.Ctx) *ParamValues {
	pv, _ := engine.Get(x, paramsKey)
	return pv
}

// Get returns the value of the declared parameter name (a string's text,
// a number's or boolean's text, an object's or list's JSON text, a file's
// content) and whether the request has it. The view lives until the
// request ends.
func (pv *ParamValues) Get(name string) ([]byte, bool) {
	if pv == nil {
		return nil, false
	}
	// A name may be declared in several places (query for GET, body for
	// POST): the first present one counts.
	for i := range pv.p.decl {
		if v := &pv.vals[i]; v.present && pv.p.decl[i].name == name {
			return pv.buf[v.off : v.off+v.n], true
		}
	}
	return nil, false
}

// AppendSorted appends "name=value&..." of the present parameters, sorted
// by name (a cache key's default part).
func (pv *ParamValues) AppendSorted(dst []byte) []byte {
	if pv == nil {
		return dst
	}
	first := true
	for _, i := range pv.p.sorted {
		v := &pv.vals[i]
		if !v.present {
			continue
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = append(dst, pv.p.decl[i].name...)
		dst = append(dst, '=')
		dst = append(dst, pv.buf[v.off:v.off+v.n]...)
	}
	return dst
}

// sortByName lists the declared parameters by name, once per config.
func (p *params) sortByName() {
	p.sorted = make([]int, len(p.decl))
	for i := range p.sorted {
		p.sorted[i] = i
	}
	sort.SliceStable(p.sorted, func(a, b int) bool { return p.decl[p.sorted[a]].name < p.decl[p.sorted[b]].name })
}

func init() {
	engine.RegisterVariablePrefix("param_", func(name string) (engine.VarFunc, error) {
		return func(x *engine.Ctx, dst []byte) ([]byte, bool) {
			v, ok := Params(x).Get(name)
			return append(dst, v...), ok
		}, nil
	})
}

// access checks the request: the method, then every declared parameter.
// It runs twice when it reads the body (ReadBody suspends).
func (p *params) access(x *engine.Ctx) engine.Status {
	if len(p.methods) > 0 && !p.methodAllowed(x.MethodName()) {
		x.RespondErrorFields(405, p.allow, "method not allowed")
		return engine.Done
	}
	if len(p.decl) == 0 {
		return engine.Continue // only methods: a route that declares no parameter keeps them all
	}
	var body []byte
	kind := bodyNone
	if x.HasBody() && (p.bodyParams || p.undeclared != undeclaredKeep) {
		ct, _ := x.Header("Content-Type")
		kind = bodyKindOf(ct)
		if kind != bodyNone || p.bodyParams {
			b, st := x.ReadBody(p.maxBody)
			if st != engine.Continue {
				return st
			}
			body = b
		}
	}
	pv := p.acquire(x.WorkerID())
	engine.Set(x, paramsKey, pv)
	pv.collectQuery(x.Query())
	pv.collectHeaders(x)
	if len(body) > 0 {
		switch kind {
		case bodyForm:
			pv.collectForm(body)
		case bodyJSON:
			pv.collectJSON(body)
		case bodyMultipart:
			ct, _ := x.Header("Content-Type")
			pv.collectMultipart(ct, body)
		}
	}
	pv.finish()
	if len(pv.fails) > 0 {
		pv.out = pv.appendRefusal(pv.out[:0], x.RequestID())
		x.Respond(400, jsonContentType, pv.out)
		return engine.Done
	}
	if err := pv.forward(x, kind, body); err != nil {
		x.RespondError(500, "params: "+err.Error())
		return engine.Done
	}
	return engine.Continue
}

var jsonContentType = []byte("Content-Type: application/json\r\n")

func (p *params) methodAllowed(m []byte) bool {
	for _, a := range p.methods {
		if string(m) == a {
			return true
		}
	}
	return false
}

// acquire takes the worker's spare values (or makes them); release gives
// them back when the request ends. The log phase runs on the worker, and
// the values are reset on reuse, not on release: the access log, which
// runs after the log phase, still reads this request's values.
func (p *params) acquire(worker int) *ParamValues {
	free := p.pool.get(worker)
	var pv *ParamValues
	if n := len(*free); n > 0 {
		pv = (*free)[n-1]
		*free = (*free)[:n-1]
	} else {
		pv = &ParamValues{p: p, worker: worker, vals: make([]paramValue, len(p.decl))}
	}
	pv.reset()
	return pv
}

func (p *params) release(x *engine.Ctx) engine.Status {
	if pv, ok := engine.Get(x, paramsKey); ok && pv != nil && pv.p == p {
		free := p.pool.get(pv.worker)
		*free = append(*free, pv)
	}
	return engine.Continue
}

func (pv *ParamValues) reset() {
	clear(pv.vals)
	pv.buf = pv.buf[:0]
	pv.fails = pv.fails[:0]
	pv.extra = pv.extra[:0]
	pv.out = pv.out[:0]
	pv.dropped, pv.bodyDrop = false, false
	pv.nargs = 0
	pv.files = pv.files[:0]
}

// check validates one value v of d's type and constraints; it returns what
// is wrong, or "". fromJSON says v is JSON text (a JSON body's member;
// strings come unescaped and are not JSON text).
func (d *declaredParam) check(v []byte, fromJSON bool) string {
	switch d.typ {
	case ptString:
		if d.minLen >= 0 || d.maxLen >= 0 {
			n := utf8.RuneCount(v)
			if d.minLen >= 0 && n < d.minLen {
				return "must be at least " + itoa(d.minLen) + " characters long"
			}
			if d.maxLen >= 0 && n > d.maxLen {
				return "must be at most " + itoa(d.maxLen) + " characters long"
			}
		}
		if d.pattern != nil && !d.pattern.Match(v) {
			return "must match " + d.pattern.String()
		}
		if len(d.enum) > 0 {
			for _, e := range d.enum {
				if string(v) == e {
					return ""
				}
			}
			return "must be one of " + strings.Join(d.enum, ", ")
		}
	case ptNumber:
		f, ok, huge := parseJSONNumber(v)
		if huge {
			return "must be within a 64-bit float's range (±1.8e308)"
		}
		if !ok {
			return "must be a number"
		}
		if d.integer && f != math.Trunc(f) {
			return "must be an integer"
		}
		if d.hasMin && f < d.min {
			return "must be at least " + strconv.FormatFloat(d.min, 'g', -1, 64)
		}
		if d.hasMax && f > d.max {
			return "must be at most " + strconv.FormatFloat(d.max, 'g', -1, 64)
		}
		if len(d.enumNums) > 0 {
			for _, e := range d.enumNums {
				if f == e {
					return ""
				}
			}
			return "must be one of the listed values"
		}
	case ptBool:
		if string(v) != "true" && string(v) != "false" {
			return "must be true or false"
		}
	case ptObject:
		// A JSON body's member was validated with the whole body.
		if len(v) == 0 || v[0] != '{' || !fromJSON && !validJSON(v, defaultParamsMaxDepth) {
			return "must be a JSON object"
		}
	case ptList:
		if len(v) == 0 || v[0] != '[' || !fromJSON && !validJSON(v, defaultParamsMaxDepth) {
			return "must be a JSON array"
		}
		if d.minItems >= 0 || d.maxItems >= 0 {
			n := countItems(v)
			if d.minItems >= 0 && n < d.minItems {
				return "must have at least " + itoa(d.minItems) + " items"
			}
			if d.maxItems >= 0 && n > d.maxItems {
				return "must have at most " + itoa(d.maxItems) + " items"
			}
		}
	case ptFile:
		if int64(len(v)) > d.maxSize {
			return "must be at most " + itoa(int(d.maxSize)) + " bytes"
		}
	}
	return ""
}

// bodyKind is how a request body carries parameters.
type bodyKind uint8

const (
	bodyNone bodyKind = iota
	bodyForm
	bodyJSON
	bodyMultipart
)

func bodyKindOf(ct []byte) bodyKind {
	mt := ct
	if i := bytes.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = bytes.TrimSpace(mt)
	switch {
	case equalFold(mt, "application/x-www-form-urlencoded"):
		return bodyForm
	case equalFold(mt, "application/json"), len(mt) > 5 && equalFold(mt[len(mt)-5:], "+json"):
		return bodyJSON
	case equalFold(mt, "multipart/form-data"):
		return bodyMultipart
	}
	return bodyNone
}
