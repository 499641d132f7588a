package policies

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// responseRewriteConfig is the `response-rewrite` policy's config: the
// status, fields and body of the route's responses — the upstream's and
// the gateway's own (errors, 401/429 answers) — changed before they are
// sent.
type responseRewriteConfig struct {
	// Status sent instead of the response's, 200..599 but not 204 or 304
	// (the rewrite keeps a body). Default: unchanged.
	Status int `yaml:"status" desc:"status sent instead, 200..599 but not 204/304; default unchanged"`
	// Headers edits the response's fields (remove, then set, then add);
	// framing and hop-by-hop fields are the gateway's and refused.
	Headers headerEdits `yaml:"headers" desc:"edits of the response's fields: remove, then set, then add"`
	// Body replaces the body: a template ("{status}", "{request_id}",
	// "{http_NAME}"...; "{{" and "}}" are literal braces). Content-Length
	// is rewritten and Content-Encoding dropped. Default: unchanged.
	Body *string `yaml:"body" desc:"new body, a template: {status}, {request_id}, {http_NAME}...; {{ and }} for literal braces; default unchanged"`
	// BodyEscape is how the values of body's variables are written: "json"
	// escapes them as the inside of a JSON string (the template keeps its
	// quotes: '{{"user":"{consumer}"}}'), "none" inserts them as they are.
	// Default: json when headers.set gives a JSON Content-Type
	// (application/json, +json), else none.
	BodyEscape string `yaml:"body_escape" enum:"none|json" desc:"how body's values are written: json (escaped as the inside of a JSON string) or none; default json when headers.set sets a JSON Content-Type, else none"`
	// OnlyStatuses applies the rewrite only to responses with one of these
	// statuses (as received). Default: every response.
	OnlyStatuses []int `yaml:"only_statuses" desc:"rewrite only responses with one of these statuses; default every response"`
	// MaxBody bounds the upstream body held while it is replaced; a larger
	// one is a 502. Default 1MiB.
	MaxBody config.Size `yaml:"max_body" desc:"largest upstream body held while the body is replaced (a larger one is a 502); default 1MiB"`
}

// responseRewrite edits the response head in header_filter and, with a
// body, asks for the whole upstream body (BufferResponse) so that its
// body_filter can replace it once and the head goes out with the new
// Content-Length.
type responseRewrite struct {
	status      int
	edits       compiledEdits
	body        *engine.Template // nil: the body is kept
	bodyJSON    bool             // body_escape: json: body's values escaped
	statuses    statusSet        // empty: every status
	anyStatus   bool
	maxBody     int64
	rewriting   engine.IntKey // 1 when this response's body is replaced
	bodyBuffers perWorker[[]byte]
}

// responseRewritePriority runs the rewrite after the other header filters
// (headers at 1000, cors at 2000, request-id at 3000): its edits have the
// last word.
const responseRewritePriority = -500

const defaultRewriteMaxBody = 1 << 20

func init() {
	RegisterConfig("response-rewrite", responseRewriteConfig{}, newResponseRewrite)
}

func newResponseRewrite(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg responseRewriteConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &responseRewrite{status: cfg.Status, maxBody: int64(cfg.MaxBody), anyStatus: len(cfg.OnlyStatuses) == 0}
	if p.maxBody == 0 {
		p.maxBody = defaultRewriteMaxBody
	}
	switch {
	case cfg.Status == 0:
	case cfg.Status < 200 || cfg.Status > 599:
		return nil, config.FieldError(spec, "status", fmt.Sprintf("must be between 200 and 599, got %d", cfg.Status))
	case cfg.Status == 204 || cfg.Status == 304:
		return nil, config.FieldError(spec, "status", fmt.Sprintf("a %d response has no body, and a rewritten response keeps one (answer with the response policy instead)", cfg.Status))
	}
	for i, st := range cfg.OnlyStatuses {
		if st < 100 || st > 599 {
			return nil, config.FieldError(spec, "only_statuses["+itoa(i)+"]", fmt.Sprintf("must be a status, 100..599, got %d", st))
		}
		p.statuses.add(st)
	}
	if err := compileEdits(spec, "headers", &cfg.Headers, &p.edits); err != nil {
		return nil, err
	}
	if cfg.Body != nil {
		t, err := engine.ParseTemplate(*cfg.Body)
		if err != nil {
			return nil, config.FieldError(spec, "body", err.Error())
		}
		p.body = t
	}
	switch cfg.BodyEscape {
	case "":
		p.bodyJSON = p.body != nil && setsJSONType(cfg.Headers.Set)
	case "none", "json":
		if p.body == nil {
			return nil, config.FieldError(spec, "body_escape", "is for body: there is no body to write")
		}
		p.bodyJSON = cfg.BodyEscape == "json"
	default:
		return nil, config.FieldError(spec, "body_escape", fmt.Sprintf(`must be "none" or "json", got %q`, cfg.BodyEscape))
	}
	if cfg.MaxBody != 0 && p.body == nil {
		// Only a replaced body is held: without body, max_body bounds nothing.
		return nil, config.FieldError(spec, "max_body", "is for body: the upstream body is held only while body replaces it")
	}
	if p.status == 0 && p.edits.empty() && p.body == nil {
		return nil, config.FieldError(spec, "", "rewrites nothing: set status, headers or body")
	}
	return p, nil
}

func (p *responseRewrite) Priority() int { return responseRewritePriority }

func (p *responseRewrite) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseHeaderFilter, p.rewriteHead)
	if p.body != nil {
		// Only with a body: a body filter on a route makes the engine take
		// every response body of the route out of its framing.
		p.rewriting = c.PrivateInt()
		c.Add(engine.PhaseBodyFilter, p.rewriteBody)
	}
	return nil
}

func (p *responseRewrite) rewriteHead(x *engine.Ctx) engine.Status {
	if !p.anyStatus && !p.statuses.has(x.ResponseStatus()) {
		return engine.Continue
	}
	if p.status != 0 {
		x.SetResponseStatus(p.status)
	}
	if p.body != nil {
		// The new body is not encoded, whatever the old one was.
		x.RemoveResponseHeader(bContentEncoding)
		x.BufferResponse(p.maxBody)
		x.SetInt(p.rewriting, 1)
	}
	p.edits.applyResponse(x)
	return engine.Continue
}

var bContentEncoding = []byte("Content-Encoding")

// rewriteBody replaces the whole body (buffered: one call, BodyEnd) with
// the template's text, built in the worker's buffer: the engine sends it
// before the worker runs anything else.
func (p *responseRewrite) rewriteBody(x *engine.Ctx) engine.Status {
	if x.Int(p.rewriting) == 0 {
		return engine.Continue
	}
	if !x.BodyEnd() {
		x.SetBodyChunk(nil) // not buffered after all: drop the old body's pieces
		return engine.Continue
	}
	buf := p.bodyBuffers.get(x.WorkerID())
	if p.bodyJSON {
		*buf, _ = p.body.AppendEach((*buf)[:0], x, escapeJSONValue)
	} else {
		*buf, _ = p.body.Append((*buf)[:0], x)
	}
	x.SetBodyChunk(*buf)
	return engine.Continue
}

// escapeJSONValue rewrites the value at dst[start:] as the inside of a
// JSON string: '"' and '\' escaped, control characters as \n, \t or
// \u00XX, bytes that are not UTF-8 as \ufffd (appendJSONString, without
// its quotes). It allocates nothing once the worker's scratch buffer has
// grown.
func escapeJSONValue(x *engine.Ctx, dst []byte, start int) []byte {
	val := append(x.Scratch()[:0], dst[start:]...)
	dst = appendJSONString(dst[:start], unsafe.String(unsafe.SliceData(val), len(val))) // a view: it keeps nothing
	dst = append(dst[:start], dst[start+1:len(dst)-1]...)                               // the quotes
	x.ScratchDone(val)
	return dst
}

// setsJSONType says whether header edits set a JSON Content-Type
// (application/json, or a +json type such as application/problem+json).
func setsJSONType(set map[string]string) bool {
	for name, v := range set {
		if strings.EqualFold(name, "Content-Type") {
			return bodyKindOf([]byte(v)) == bodyJSON
		}
	}
	return false
}

// statusSet is a set of statuses 100..599, one bit each.
type statusSet [600/64 + 1]uint64

func (s *statusSet) add(st int) { s[st/64] |= 1 << (st % 64) }

func (s *statusSet) has(st int) bool {
	return st >= 0 && st < 600 && s[st/64]&(1<<(st%64)) != 0
}
