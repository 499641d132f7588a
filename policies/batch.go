package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// batchConfig is the `batch-requests` policy's config (APISIX's
// batch-requests): a client POSTs a JSON list of requests and gets the
// list of their answers, in order. The items run in parallel.
type batchConfig struct {
	// MaxRequests caps the items of one batch, 1..100. Default 20.
	MaxRequests int `yaml:"max_requests" desc:"most items in one batch, 1..100; default 20"`
	// MaxBody caps the batch request's body. Default 1MiB.
	MaxBody config.Size `yaml:"max_body" desc:"largest batch request body (larger is answered 413); default 1MiB"`
	// MaxResponseBody caps each item's response body; a larger one makes
	// the item a 502. Default 1MiB.
	MaxResponseBody config.Size `yaml:"max_response_body" desc:"largest response body of one item (larger: that item is a 502); default 1MiB"`
	// Timeout bounds each item. Default and ceiling: 95% of
	// client.policy_timeout.
	Timeout config.Duration `yaml:"timeout" desc:"bound on each item; default and ceiling 95% of client.policy_timeout"`
	// Upstream sends every item to this upstream directly, without
	// routing or the routes' policies. Default: items go through the
	// gateway itself, routed and filtered as if each came alone.
	Upstream string `yaml:"upstream" desc:"send items straight to this upstream (no routing, no route policies); default through the gateway itself, each item routed with its route's policies"`
	// Gateway is the address items are sent to when Upstream is not set.
	// Default: the config's listen address (a wildcard host becomes
	// loopback).
	Gateway string `yaml:"gateway" desc:"host:port items are sent to without upstream; default the listen address, wildcard hosts as loopback"`
}

// batch answers its route: POST a batch, get the answers. It terminates
// the route.
type batch struct {
	maxRequests int
	maxBody     int64
	maxResp     int64
	timeout     time.Duration
	upstream    string
	gateway     string
	onDone      func(*engine.Ctx, []engine.SubResponse) engine.Status
}

// batchRequest is the body: a JSON list of items, or APISIX's object with
// common headers, a timeout in milliseconds and the list as pipeline.
type batchRequest struct {
	Headers  map[string]string `json:"headers"`
	Timeout  int64             `json:"timeout"`
	Pipeline []batchItem       `json:"pipeline"`
}

// batchItem is one request of a batch.
type batchItem struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   json.RawMessage   `json:"query"` // an object of strings, or a string
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"` // a string is sent as its text, other JSON as written
}

// batchResult is one item's answer.
type batchResult struct {
	Status  int            `json:"status"`
	Headers map[string]any `json:"headers,omitempty"`
	Body    *string        `json:"body,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// batchMarker is sent with every item; a batch request carrying it is
// refused, so a batch cannot contain itself.
const batchMarker = "X-Sluice-Batch"

func init() { RegisterConfig("batch-requests", batchConfig{}, newBatch) }

func newBatch(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg batchConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.Upstream != "" && !env.HasUpstream(cfg.Upstream) {
		return nil, config.FieldErrorf(spec, "upstream", "unknown upstream %q", cfg.Upstream)
	}
	p := &batch{
		maxRequests: cfg.MaxRequests,
		maxBody:     int64(cfg.MaxBody),
		maxResp:     int64(cfg.MaxResponseBody),
		timeout:     cfg.Timeout.Std(),
		upstream:    cfg.Upstream,
		gateway:     cfg.Gateway,
	}
	if p.maxRequests == 0 {
		p.maxRequests = 20
	}
	if p.maxRequests < 1 || p.maxRequests > 100 {
		return nil, config.FieldError(spec, "max_requests", fmt.Sprintf("must be between 1 and 100, got %d", cfg.MaxRequests))
	}
	if p.maxBody == 0 {
		p.maxBody = 1 << 20
	}
	if p.maxResp == 0 {
		p.maxResp = 1 << 20
	}
	if p.timeout < 0 {
		return nil, config.FieldError(spec, "timeout", "must not be negative")
	}
	if p.gateway != "" {
		if p.upstream != "" {
			return nil, config.FieldError(spec, "gateway", "is for items sent through the gateway; with upstream they go to the upstream")
		}
		if _, port, err := net.SplitHostPort(p.gateway); err != nil || port == "" || port == "0" {
			return nil, config.FieldError(spec, "gateway", fmt.Sprintf("must be host:port, got %q", p.gateway))
		}
	}
	p.onDone = p.done
	return p, nil
}

func (p *batch) Priority() int    { return aggregatePriority }
func (p *batch) Terminates() bool { return true }

func (p *batch) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseContent, p.content)
	return nil
}

func (p *batch) content(x *engine.Ctx) engine.Status {
	if x.Method() != http1.MethodPOST {
		x.RespondErrorFields(405, []byte("Allow: POST\r\n"), "batch-requests: POST a JSON list of requests")
		return engine.Done
	}
	if _, nested := x.Header(batchMarker); nested {
		x.RespondError(400, "batch-requests: a batch item cannot be a batch")
		return engine.Done
	}
	body, s := x.ReadBody(p.maxBody)
	if s != engine.Continue {
		return s
	}
	items, common, timeout, problems := p.parse(body)
	if len(problems) > 0 {
		x.RespondError(400, "batch-requests: "+strings.Join(problems, "; "))
		return engine.Done
	}
	addr := ""
	if p.upstream == "" {
		var why string
		if addr, why = p.gatewayAddr(x); why != "" {
			x.RespondError(500, why)
			return engine.Done
		}
	}
	limit := policyBudget(x, p.timeout)
	if timeout > 0 && timeout < limit {
		limit = timeout
	}
	inherited := batchInherited(x)
	reqs := make([]engine.SubRequest, len(items))
	for i := range items {
		reqs[i] = p.subRequest(x, &items[i], common, inherited, addr, limit)
	}
	return x.Subrequests(reqs, p.onDone)
}

// parse decodes and checks the batch; problems lists every problem found.
func (p *batch) parse(body []byte) (items []batchItem, common map[string]string, timeout time.Duration, problems []string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil, 0, []string{"the body is empty: POST a JSON list of requests"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	prefix := ""
	switch body[0] {
	case '[':
		if err := dec.Decode(&items); err != nil {
			return nil, nil, 0, []string{"not a JSON list of requests: " + err.Error()}
		}
	case '{':
		var br batchRequest
		if err := dec.Decode(&br); err != nil {
			return nil, nil, 0, []string{"not a JSON batch: " + err.Error()}
		}
		if br.Pipeline == nil {
			return nil, nil, 0, []string{`the object has no "pipeline" list of requests`}
		}
		if br.Timeout < 0 {
			problems = append(problems, "timeout: must not be negative")
		}
		// A timeout too long for a Duration is the longest one: it can
		// only shorten the policy's, and must not wrap around to a short one.
		millis := min(br.Timeout, math.MaxInt64/int64(time.Millisecond))
		items, common, timeout, prefix = br.Pipeline, br.Headers, time.Duration(millis)*time.Millisecond, "pipeline"
		for n, v := range common {
			if why := batchFieldProblem(n, v); why != "" {
				problems = append(problems, "headers."+n+": "+why)
			}
		}
	default:
		return nil, nil, 0, []string{"not JSON: the body must be a list of requests ([...]) or an object with a pipeline list"}
	}
	if dec.More() {
		return nil, nil, 0, []string{"data after the JSON value"}
	}
	if len(items) == 0 {
		problems = append(problems, "the list of requests is empty")
	}
	if len(items) > p.maxRequests {
		problems = append(problems, fmt.Sprintf("%d requests, at most %d in one batch", len(items), p.maxRequests))
		return nil, nil, 0, problems
	}
	for i := range items {
		it := &items[i]
		at := fmt.Sprintf("%s[%d]", prefix, i)
		if it.Method == "" {
			it.Method = http.MethodGet
		}
		it.Method = strings.ToUpper(it.Method)
		if !http1.ValidFieldName(it.Method) {
			problems = append(problems, fmt.Sprintf("%s.method: not a method: %q", at, it.Method))
		}
		if !strings.HasPrefix(it.Path, "/") || !validTargetBytes(it.Path) {
			problems = append(problems, fmt.Sprintf("%s.path: must start with '/' and have no spaces or control bytes, got %q", at, it.Path))
		}
		if _, err := batchQuery(it.Query); err != nil {
			problems = append(problems, at+".query: "+err.Error())
		}
		for n, v := range it.Headers {
			if why := batchFieldProblem(n, v); why != "" {
				problems = append(problems, at+".headers."+n+": "+why)
			}
		}
		if _, err := batchBody(it.Body); err != nil {
			problems = append(problems, at+".body: "+err.Error())
		}
	}
	return items, common, timeout, problems
}

func validTargetBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f || s[i] == '#' {
			return false
		}
	}
	return true
}

func batchFieldProblem(name, value string) string {
	if err := checkField(name, value); err != nil {
		return err.Error()
	}
	if strings.EqualFold(name, batchMarker) {
		return "is the gateway's batch marker"
	}
	if why := gatewayOwned(name, true); why != "" {
		return name + " " + why
	}
	return ""
}

// batchQuery is an item's query: an object of strings (encoded, sorted)
// or a string (as written, without '?').
func batchQuery(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if !validTargetBytes(s) {
			return "", errors.New("has spaces or control bytes")
		}
		return strings.TrimPrefix(s, "?"), nil
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", errors.New("must be an object of strings or a string")
	}
	v := url.Values{}
	for k, val := range m {
		v.Set(k, val)
	}
	return v.Encode(), nil
}

// batchBody is an item's body: a string's text, other JSON as written.
func batchBody(raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return raw, nil
}

// batchInherited are the batch request's fields that every item gets (its
// credentials, Accept...), without framing, hop-by-hop fields and Host.
func batchInherited(x *engine.Ctx) http.Header {
	h := http.Header{}
	x.VisitHeaders(func(name, value []byte) bool {
		n := string(name)
		if !mirrorExcluded(n) && !strings.EqualFold(n, "Content-Type") && !strings.EqualFold(n, batchMarker) {
			h.Add(n, string(value))
		}
		return true
	})
	return h
}

func (p *batch) subRequest(x *engine.Ctx, it *batchItem, common map[string]string, inherited http.Header, addr string, timeout time.Duration) engine.SubRequest {
	target := it.Path
	if q, _ := batchQuery(it.Query); q != "" {
		if strings.IndexByte(target, '?') >= 0 {
			target += "&" + q
		} else {
			target += "?" + q
		}
	}
	h := inherited.Clone()
	for n, v := range common {
		h.Set(n, v)
	}
	for n, v := range it.Headers {
		h.Set(n, v)
	}
	body, _ := batchBody(it.Body)
	if len(body) > 0 && h.Get("Content-Type") == "" {
		if json.Valid(body) && it.Body[0] != '"' {
			h.Set("Content-Type", "application/json")
		}
	}
	sr := engine.SubRequest{Method: it.Method, Target: target, Header: h, Body: body, Timeout: timeout, MaxBody: p.maxResp}
	if p.upstream != "" {
		sr.Upstream = p.upstream
	} else {
		h.Set(batchMarker, "1")
		sr.Addr = addr
		sr.Host = string(x.Host())
	}
	return sr
}

// gatewayAddr is where items go without an upstream: the configured
// gateway, else the listen address with a wildcard host made loopback.
func (p *batch) gatewayAddr(x *engine.Ctx) (string, string) {
	if p.gateway != "" {
		return p.gateway, ""
	}
	host, port, err := net.SplitHostPort(x.Snapshot().Config.Listen)
	if err != nil || port == "0" || port == "" {
		return "", "batch-requests: the gateway's listen address " + quote(x.Snapshot().Config.Listen) + " has no fixed port: set the policy's gateway"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), ""
}

// done answers the list of results, in the order of the items. The answer
// is one allocation per batch: encoding/json builds it, as it decoded the
// items, and each item already cost an HTTP exchange; the Ctx keeps the
// slice alive until the request ends.
func (p *batch) done(x *engine.Ctx, resps []engine.SubResponse) engine.Status {
	out := make([]batchResult, len(resps))
	for i := range resps {
		r := &resps[i]
		res := &out[i]
		if r.Err != nil {
			var timedOut bool
			res.Status = 502
			res.Error, timedOut = subFailure(r.Err)
			switch {
			case timedOut:
				res.Status = 504
			case errors.Is(r.Err, engine.ErrNoTarget):
				res.Status = 503
			}
			continue
		}
		res.Status = r.Status
		res.Headers = make(map[string]any, len(r.Header))
		for n, vs := range r.Header {
			if len(vs) == 1 {
				res.Headers[n] = vs[0]
			} else {
				res.Headers[n] = vs
			}
		}
		b := string(r.Body)
		res.Body = &b
	}
	body, err := json.Marshal(out)
	if err != nil {
		return engine.Error
	}
	x.Respond(200, []byte("Content-Type: application/json\r\n"), body)
	return engine.Done
}
