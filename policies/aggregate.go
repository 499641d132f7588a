package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// aggregateConfig is the `aggregate` policy's config: the route's answer
// is one JSON object built from several backend calls (KrakenD's
// aggregation, OpenResty's ngx.location.capture_multi).
type aggregateConfig struct {
	// Calls are the backend calls, 1..32. Calls run in parallel; a call
	// whose templates use another's result ({{resp.NAME...}}) runs in a
	// later step, after it. Required.
	Calls []aggregateCallConfig `yaml:"calls" desc:"the backend calls, 1..32; a call using {{resp.NAME.field}} of an earlier call runs after it, the others in parallel; required"`
	// Timeout bounds the whole aggregation, every step included. Default
	// and ceiling: 95% of client.policy_timeout.
	Timeout config.Duration `yaml:"timeout" desc:"bound on the whole aggregation, all steps included; default and ceiling 95% of client.policy_timeout"`
	// MaxDepth is the deepest JSON nesting accepted from a backend; a
	// deeper response fails its call. Default 64, at most 1000.
	MaxDepth int `yaml:"max_depth" desc:"deepest JSON nesting accepted from a backend (deeper fails the call); default 64, at most 1000"`
}

// aggregateCallConfig is one backend call.
type aggregateCallConfig struct {
	// Name identifies the call in {{resp.NAME...}} and X-Sluice-Failed:
	// [A-Za-z0-9_-]+, unique. Required.
	Name string `yaml:"name" desc:"the call's name, [A-Za-z0-9_-]+, unique: used in {{resp.NAME.field}} and X-Sluice-Failed; required"`
	// Upstream is the upstream called (its balancer, health, retries).
	// Required.
	Upstream string `yaml:"upstream" desc:"the upstream called, with its balancer, health and retries; required"`
	// Method defaults to GET.
	Method string `yaml:"method" desc:"request method; default GET"`
	// Path is a template of the path: "/users/{path_param_id}",
	// "/orders?user={{resp.user.id}}". Required; starts with '/'.
	Path string `yaml:"path" desc:"path template, may hold a query: /users/{path_param_id}, /orders/{{resp.user.id}}; required"`
	// Query is a template of the query added to Path ("page={arg_page}").
	Query string `yaml:"query" desc:"query template added to path, without '?': page={arg_page}&user={{resp.user.id}}; default none"`
	// Headers are fields sent, by name, with template values.
	Headers map[string]string `yaml:"headers" desc:"fields sent with the call, values are templates; default none"`
	// PassHeaders lists client request fields copied to the call.
	PassHeaders []string `yaml:"pass_headers" desc:"client request fields copied to the call (Authorization, Accept-Language...); default none"`
	// Body is a template of the request body; values of {{resp...}} are
	// inserted as JSON. Default none.
	Body string `yaml:"body" desc:"request body template; {{resp.NAME.field}} inserts JSON values, literal braces are doubled; default none"`
	// ContentType of Body. Default application/json when Body is set.
	ContentType string `yaml:"content_type" desc:"Content-Type of body; default application/json when body is set"`
	// Timeout bounds the call (each try). Default: what is left of the
	// aggregation's timeout.
	Timeout config.Duration `yaml:"timeout" desc:"bound on the call (each try); default what is left of the aggregation's timeout"`
	// MaxBody caps the response body kept. Default 1MiB.
	MaxBody config.Size `yaml:"max_body" desc:"largest response body accepted (larger fails the call); default 1MiB"`
	// Required: when the call fails the client gets 502 (504 for a
	// timeout) instead of a partial answer. Default false.
	Required bool `yaml:"required" desc:"a failure answers 502 (504 when timed out) instead of leaving the part out; default false"`
	// Hidden leaves the result out of the answer: it only feeds later
	// calls' templates. Default false.
	Hidden bool `yaml:"hidden" desc:"leave the result out of the answer (it only feeds later calls); default false"`
	// Group puts the result under this key instead of merging its fields.
	Group string `yaml:"group" desc:"put the result under this key instead of merging its fields; needed for results that are not objects"`
	// Target is a path of keys inside the response ("data.items") whose
	// value is the call's result.
	Target string `yaml:"target" desc:"path of keys inside the response whose value is the result: data.items; default the whole response"`
	// Allow keeps only these top-level fields of the result.
	Allow []string `yaml:"allow" desc:"keep only these top-level fields of the result; default all"`
	// Deny drops these top-level fields of the result.
	Deny []string `yaml:"deny" desc:"drop these top-level fields of the result; default none"`
	// Mapping renames top-level fields of the result: {old: new}.
	Mapping map[string]string `yaml:"mapping" desc:"renames of top-level fields of the result, old: new; default none"`
}

// aggregate answers its route with the merged JSON of its calls. It runs
// in the content phase and terminates the route. Its per-request state
// (results, merge buffers, the answer) comes from a pool and goes back in
// the log phase, once the answer is sent: the body passed to Respond lives
// as long as the request.
type aggregate struct {
	calls    []aggCall
	steps    [][]int // call indices per step, in config order
	timeout  time.Duration
	maxDepth int
	state    engine.Key[*aggState]
	onStep   func(*engine.Ctx, []engine.SubResponse) engine.Status
}

// aggCall is a compiled call.
type aggCall struct {
	name        string
	upstream    string
	method      string
	path        *callTemplate
	query       *callTemplate // nil: none
	fixedTarget string        // path and query when they hold no variable and no reference, else ""
	headers     []aggHeader
	pass        []string
	body        *callTemplate // nil: none
	contentType string
	timeout     time.Duration
	maxBody     int64
	required    bool
	hidden      bool
	group       []byte // JSON-escaped key; nil: merge the fields
	target      []string
	filter      fieldFilter
	deps        []int
}

type aggHeader struct {
	name string
	tpl  *callTemplate
}

// aggState is one request's aggregation.
type aggState struct {
	step     int
	deadline int64 // unix nanoseconds
	sent     []int // the calls of the running step, in the order of their sub-requests
	res      []aggResult
	m        merger
	out      []byte
}

// aggResult is one call's outcome.
type aggResult struct {
	val      []byte // the result (after target), trimmed valid JSON
	why      string // why it failed; "" when it did not
	timedOut bool
}

func (st *aggState) result(i int) []byte { return st.res[i].val }

var aggStates = sync.Pool{New: func() any { return new(aggState) }}

const (
	aggregatePriority  = -1000 // content: after every access check, like response
	maxAggregateCalls  = 32
	defaultAggDepth    = 64
	defaultAggMaxBody  = 1 << 20
	aggFieldsOK        = "Content-Type: application/json\r\nX-Sluice-Completed: true\r\n"
	aggFieldsPartial   = "Content-Type: application/json\r\nX-Sluice-Completed: false\r\nX-Sluice-Failed: "
	aggFieldsErrorHead = "X-Sluice-Completed: false\r\nX-Sluice-Failed: "
)

func init() { RegisterConfig("aggregate", aggregateConfig{}, newAggregate) }

func newAggregate(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg aggregateConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Calls) == 0 {
		return nil, config.FieldError(spec, "calls", "is required: list the backend calls")
	}
	if len(cfg.Calls) > maxAggregateCalls {
		return nil, config.FieldError(spec, "calls", fmt.Sprintf("has %d calls, at most %d", len(cfg.Calls), maxAggregateCalls))
	}
	if cfg.Timeout < 0 {
		return nil, config.FieldError(spec, "timeout", "must not be negative")
	}
	p := &aggregate{timeout: cfg.Timeout.Std(), maxDepth: cfg.MaxDepth}
	if p.maxDepth == 0 {
		p.maxDepth = defaultAggDepth
	}
	if p.maxDepth < 1 || p.maxDepth > 1000 {
		return nil, config.FieldError(spec, "max_depth", fmt.Sprintf("must be between 1 and 1000, got %d", cfg.MaxDepth))
	}
	index := map[string]int{}
	stepOf := make([]int, len(cfg.Calls))
	for i := range cfg.Calls {
		c, err := compileAggCall(spec, env, fmt.Sprintf("calls[%d]", i), &cfg.Calls[i], index)
		if err != nil {
			return nil, err
		}
		for _, d := range c.deps {
			if stepOf[d]+1 > stepOf[i] {
				stepOf[i] = stepOf[d] + 1
			}
		}
		index[c.name] = i
		p.calls = append(p.calls, c)
	}
	for i, s := range stepOf {
		for len(p.steps) <= s {
			p.steps = append(p.steps, nil)
		}
		p.steps[s] = append(p.steps[s], i)
	}
	p.onStep = p.stepDone
	return p, nil
}

func compileAggCall(spec config.PolicySpec, env *engine.Env, at string, cc *aggregateCallConfig, index map[string]int) (aggCall, error) {
	fail := func(field, msg string) (aggCall, error) { return aggCall{}, config.FieldError(spec, at+field, msg) }
	c := aggCall{name: cc.Name, upstream: cc.Upstream, required: cc.Required, hidden: cc.Hidden, timeout: cc.Timeout.Std(), maxBody: int64(cc.MaxBody)}
	if c.name == "" {
		return fail(".name", "is required: calls are named for {{resp.NAME...}} and X-Sluice-Failed")
	}
	if !isCallName(c.name) {
		return fail(".name", fmt.Sprintf("must be [A-Za-z0-9_-]+, got %q", c.name))
	}
	if _, dup := index[c.name]; dup {
		return fail(".name", fmt.Sprintf("%q names two calls", c.name))
	}
	if c.upstream == "" {
		return fail(".upstream", "is required")
	}
	if !env.HasUpstream(c.upstream) {
		return fail(".upstream", fmt.Sprintf("unknown upstream %q", c.upstream))
	}
	c.method = strings.ToUpper(cc.Method)
	if c.method == "" {
		c.method = http.MethodGet
	}
	if !http1.ValidFieldName(c.method) {
		return fail(".method", fmt.Sprintf("not a method: %q", cc.Method))
	}
	if !strings.HasPrefix(cc.Path, "/") {
		return fail(".path", fmt.Sprintf("must start with '/', got %q", cc.Path))
	}
	var err error
	if c.path, err = parseCallTemplate(cc.Path, index); err != nil {
		return fail(".path", err.Error())
	}
	if b, found := c.path.badLiteralByte(targetByte); found {
		return fail(".path", fmt.Sprintf("%q holds %q: a path is visible ASCII (percent-encode the rest)", cc.Path, b))
	}
	if cc.Query != "" {
		if c.query, err = parseCallTemplate(strings.TrimPrefix(cc.Query, "?"), index); err != nil {
			return fail(".query", err.Error())
		}
		if b, found := c.query.badLiteralByte(targetByte); found {
			return fail(".query", fmt.Sprintf("%q holds %q: a query is visible ASCII (percent-encode the rest)", cc.Query, b))
		}
	}
	names := make([]string, 0, len(cc.Headers))
	for n := range cc.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !http1.ValidFieldName(n) {
			return fail(".headers."+n, fmt.Sprintf("%q is not a valid field name", n))
		}
		if why := gatewayOwned(n, true); why != "" {
			return fail(".headers."+n, n+" "+why)
		}
		t, err := parseCallTemplate(cc.Headers[n], index)
		if err != nil {
			return fail(".headers."+n, err.Error())
		}
		if b, found := t.badLiteralByte(fieldValueByte); found {
			return fail(".headers."+n, fmt.Sprintf("%q holds %q, which a field value cannot", cc.Headers[n], b))
		}
		c.headers = append(c.headers, aggHeader{name: http.CanonicalHeaderKey(n), tpl: t})
	}
	for i, n := range cc.PassHeaders {
		if !http1.ValidFieldName(n) {
			return fail(fmt.Sprintf(".pass_headers[%d]", i), fmt.Sprintf("%q is not a valid field name", n))
		}
		if why := gatewayOwned(n, true); why != "" {
			return fail(fmt.Sprintf(".pass_headers[%d]", i), n+" "+why)
		}
		c.pass = append(c.pass, n)
	}
	if cc.Body != "" {
		if c.body, err = parseCallTemplate(cc.Body, index); err != nil {
			return fail(".body", err.Error())
		}
		c.contentType = cc.ContentType
		if c.contentType == "" {
			c.contentType = "application/json"
		}
	} else if cc.ContentType != "" {
		return fail(".content_type", "is set without a body")
	}
	if !http1.ValidFieldValue(c.contentType) {
		return fail(".content_type", fmt.Sprintf("bytes not allowed in a field value: %q", c.contentType))
	}
	if c.timeout < 0 {
		return fail(".timeout", "must not be negative")
	}
	if c.maxBody == 0 {
		c.maxBody = defaultAggMaxBody
	}
	if c.maxBody < 0 {
		return fail(".max_body", "must not be negative")
	}
	if cc.Group != "" {
		c.group = appendJSONString(nil, cc.Group)
		c.group = c.group[1 : len(c.group)-1]
	}
	if cc.Target != "" {
		c.target = strings.Split(cc.Target, ".")
		for _, k := range c.target {
			if k == "" {
				return fail(".target", fmt.Sprintf("%q has an empty key (write keys separated by dots: data.items)", cc.Target))
			}
		}
	}
	if len(cc.Allow) > 0 && len(cc.Deny) > 0 {
		return fail(".deny", "allow and deny together: list the fields to keep (allow) or those to drop (deny)")
	}
	if len(cc.Allow) > 0 {
		c.filter.allow = map[string]struct{}{}
		for _, f := range cc.Allow {
			c.filter.allow[f] = struct{}{}
		}
	}
	if len(cc.Deny) > 0 {
		c.filter.deny = map[string]struct{}{}
		for _, f := range cc.Deny {
			c.filter.deny[f] = struct{}{}
		}
	}
	for from, to := range cc.Mapping {
		if from == "" || to == "" {
			return fail(".mapping", "renames need a field name on both sides")
		}
		if c.filter.mapping == nil {
			c.filter.mapping = map[string][]byte{}
		}
		q := appendJSONString(nil, to)
		c.filter.mapping[from] = q[1 : len(q)-1]
	}
	for _, t := range []*callTemplate{c.path, c.query, c.body} {
		if t != nil {
			for _, d := range t.deps {
				c.addDep(d)
			}
		}
	}
	if c.path.constant() && (c.query == nil || c.query.constant()) {
		// Made once here, not per request: a constant target read no
		// variable and no result, so nil stands for both.
		t, _ := c.appendTarget(nil, nil, nil)
		c.fixedTarget = string(t)
	}
	for _, h := range c.headers {
		for _, d := range h.tpl.deps {
			c.addDep(d)
		}
	}
	return c, nil
}

func (c *aggCall) addDep(d int) {
	for _, e := range c.deps {
		if e == d {
			return
		}
	}
	c.deps = append(c.deps, d)
}

func isCallName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

func (p *aggregate) Priority() int    { return aggregatePriority }
func (p *aggregate) Terminates() bool { return true }

func (p *aggregate) Install(c *engine.ChainBuilder) error {
	p.state = engine.NewPrivateKey[*aggState](c)
	c.Add(engine.PhaseContent, p.content)
	c.Add(engine.PhaseLog, p.release)
	return nil
}

// content starts the first step.
func (p *aggregate) content(x *engine.Ctx) engine.Status {
	st := aggStates.Get().(*aggState)
	st.step = 0
	st.deadline = x.Now() + int64(policyBudget(x, p.timeout))
	if cap(st.res) < len(p.calls) {
		st.res = make([]aggResult, len(p.calls))
	}
	st.res = st.res[:len(p.calls)]
	clear(st.res)
	engine.Set(x, p.state, st)
	return p.runSteps(x, st)
}

// release gives the state back once the answer was sent (or the client
// went away): nothing of the request reads it after the log phase.
func (p *aggregate) release(x *engine.Ctx) engine.Status {
	if st, ok := engine.Get(x, p.state); ok && st != nil {
		engine.Set(x, p.state, nil)
		clear(st.res) // drop the bodies
		st.m.reset()
		aggStates.Put(st)
	}
	return engine.Continue
}

// policyBudget is a policy's time limit for work in one suspension: its
// own timeout, at most 95% of client.policy_timeout (the margin lets the
// policy's own timeouts fire before the engine's 504).
func policyBudget(x *engine.Ctx, own time.Duration) time.Duration {
	c := &x.Snapshot().Config.Client
	pt := c.PolicyTimeout.Std()
	if pt <= 0 {
		pt = c.HeaderTimeout.Std()
	}
	if pt <= 0 {
		pt = 10 * time.Second
	}
	pt -= pt / 20
	if own > 0 && own < pt {
		return own
	}
	return pt
}

// runSteps sends the calls of the next step that can be sent, or answers
// once every step ran.
func (p *aggregate) runSteps(x *engine.Ctx, st *aggState) engine.Status {
	for st.step < len(p.steps) {
		if s, failed := p.requiredFailure(x, st); failed {
			return s
		}
		step := p.steps[st.step]
		left := time.Duration(st.deadline - x.Now())
		var reqs []engine.SubRequest
		st.sent = st.sent[:0]
		for _, ci := range step {
			c := &p.calls[ci]
			r := &st.res[ci]
			if left <= 0 {
				r.why, r.timedOut = "the aggregation timed out before the call", true
				continue
			}
			if d := p.failedDep(st, c); d >= 0 {
				r.why = "needs " + p.calls[d].name + ", which failed"
				continue
			}
			sr, why := p.subRequest(x, st, c, left)
			if why != "" {
				r.why = why
				continue
			}
			if reqs == nil {
				reqs = make([]engine.SubRequest, 0, len(step))
			}
			reqs = append(reqs, sr)
			st.sent = append(st.sent, ci)
		}
		if s, failed := p.requiredFailure(x, st); failed {
			return s
		}
		if len(reqs) > 0 {
			return x.Subrequests(reqs, p.onStep)
		}
		st.step++
	}
	if s, failed := p.requiredFailure(x, st); failed {
		return s
	}
	return p.answer(x, st)
}

// stepDone records a step's responses on the worker and goes on.
func (p *aggregate) stepDone(x *engine.Ctx, resps []engine.SubResponse) engine.Status {
	st, ok := engine.Get(x, p.state)
	if !ok || st == nil {
		return engine.Error
	}
	for j := range resps {
		ci := st.sent[j]
		p.record(&p.calls[ci], &st.res[ci], &resps[j])
	}
	st.step++
	return p.runSteps(x, st)
}

func (p *aggregate) failedDep(st *aggState, c *aggCall) int {
	for _, d := range c.deps {
		if st.res[d].why != "" {
			return d
		}
	}
	return -1
}

// subRequest builds call c's request; why says why it cannot be sent.
func (p *aggregate) subRequest(x *engine.Ctx, st *aggState, c *aggCall, left time.Duration) (sr engine.SubRequest, why string) {
	buf := x.Scratch()
	defer func() { x.ScratchDone(buf) }()
	target, bad := c.fixedTarget, ""
	if target == "" {
		if buf, bad = c.appendTarget(buf, x, st); bad != "" {
			return sr, "no value for " + bad
		}
		target = string(buf)
	}
	sr = engine.SubRequest{Upstream: c.upstream, Method: c.method, Target: target, MaxBody: c.maxBody, Timeout: left, NoHeader: true}
	if c.timeout > 0 && c.timeout < left {
		sr.Timeout = c.timeout
	}
	if len(c.headers)+len(c.pass) > 0 || c.body != nil {
		sr.Header = make(http.Header, len(c.headers)+len(c.pass)+1)
	}
	for _, n := range c.pass {
		if v, ok := x.Header(n); ok {
			sr.Header[http.CanonicalHeaderKey(n)] = []string{string(v)}
		}
	}
	for _, h := range c.headers {
		if buf, bad = h.tpl.appendTo(buf[:0], x, st, escapeField); bad != "" {
			return sr, "no value for " + bad
		}
		if !http1.ValidFieldValue(string(buf)) {
			return sr, "the value of " + h.name + " is not a valid field value"
		}
		sr.Header[h.name] = []string{string(buf)}
	}
	if c.body != nil {
		// The body is the sub-request's own: the exchange may outlive this
		// request (a client that leaves), so it is not a pooled buffer.
		var body []byte
		if body, bad = c.body.appendTo(make([]byte, 0, 256), x, st, escapeJSON); bad != "" {
			return sr, "no value for " + bad
		}
		sr.Body = body
		sr.Header["Content-Type"] = []string{c.contentType}
	}
	return sr, ""
}

// targetByte reports that c may be in a sub-request's target: visible
// ASCII, as the engine's sub-request client requires.
func targetByte(c byte) bool { return c > ' ' && c < 0x7f }

// fieldValueByte reports that c may be in a field value (SP and HTAB
// only inside it; ValidFieldValue checks the whole value at run time).
func fieldValueByte(c byte) bool { return http1.ValidFieldValue(string([]byte{'a', c, 'a'})) }

// appendTarget appends the call's path and query for x and the results
// so far; bad names a template's variable or reference that had no value.
func (c *aggCall) appendTarget(buf []byte, x *engine.Ctx, rs results) (out []byte, bad string) {
	if buf, bad = c.path.appendTo(buf, x, rs, escapeURL); bad != "" {
		return buf, bad
	}
	if c.query != nil {
		n := len(buf)
		if bytes.IndexByte(buf, '?') >= 0 {
			buf = append(buf, '&')
		} else {
			buf = append(buf, '?')
		}
		if buf, bad = c.query.appendTo(buf, x, rs, escapeURL); bad != "" {
			return buf, bad
		}
		if len(buf) == n+1 {
			buf = buf[:n] // an empty query
		}
	}
	return buf, ""
}

// record classifies one response: a result, or why the call failed.
func (p *aggregate) record(c *aggCall, r *aggResult, resp *engine.SubResponse) {
	switch {
	case resp.Err != nil:
		r.why, r.timedOut = subFailure(resp.Err)
		return
	case resp.Status < 200 || resp.Status > 299:
		r.why = "status " + itoa(resp.Status)
		return
	case !json.Valid(resp.Body):
		r.why = "the response is not JSON"
		return
	}
	if jsonDepth(resp.Body) > p.maxDepth {
		r.why = "the response's JSON is nested deeper than max_depth (" + itoa(p.maxDepth) + ")"
		return
	}
	v, ok := jsonPath(jsonTrim(resp.Body), c.target)
	if !ok {
		r.why = "no " + strings.Join(c.target, ".") + " in the response"
		return
	}
	if c.group == nil && !c.hidden && (len(v) == 0 || v[0] != '{') {
		r.why = "the result is not a JSON object: give the call a group to place it under a key"
		return
	}
	r.val = v
}

// subFailure says why a sub-request got no response, in words fit for a
// client: net/http's errors name the target's address, which stays out.
func subFailure(err error) (why string, timedOut bool) {
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out", true
	case errors.Is(err, engine.ErrNoTarget):
		return "no usable target", false
	case errors.Is(err, engine.ErrSubResponseTooLarge):
		return "response body over its limit", false
	case errors.As(err, &op) && op.Op == "dial":
		return "connect failed", false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed before a whole response", false
	}
	return "exchange failed", false
}

// requiredFailure answers 502 (504 for a timeout) when a required call
// failed.
func (p *aggregate) requiredFailure(x *engine.Ctx, st *aggState) (engine.Status, bool) {
	for ci := range p.calls {
		c := &p.calls[ci]
		r := &st.res[ci]
		if !c.required || r.why == "" {
			continue
		}
		status := 502
		if r.timedOut {
			status = 504
		}
		f := append(x.Scratch(), aggFieldsErrorHead...)
		f = append(f, c.name...)
		f = append(f, "\r\n"...)
		x.RespondErrorFields(status, f, "aggregate: required call "+c.name+": "+r.why)
		x.ScratchDone(f)
		return engine.Done, true
	}
	return engine.Continue, false
}

// answer merges the results in config order and answers 200.
func (p *aggregate) answer(x *engine.Ctx, st *aggState) engine.Status {
	st.m.reset()
	f := x.Scratch()
	failed := 0
	for ci := range p.calls {
		c := &p.calls[ci]
		r := &st.res[ci]
		if r.why != "" {
			if failed == 0 {
				f = append(f, aggFieldsPartial...)
			} else {
				f = append(f, ',')
			}
			f = append(f, c.name...)
			failed++
			continue
		}
		if c.hidden {
			continue
		}
		if c.group != nil {
			st.m.group(c.group, r.val, &c.filter)
		} else {
			st.m.mergeFields(r.val, &c.filter)
		}
	}
	if failed > 0 {
		f = append(f, "\r\n"...)
	} else {
		f = append(f, aggFieldsOK...)
	}
	st.out = st.m.appendObject(st.out[:0])
	x.Respond(200, f, st.out)
	x.ScratchDone(f)
	return engine.Done
}
