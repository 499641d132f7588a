package policies

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// mirrorConfig is the `mirror` policy's config (nginx's mirror, APISIX's
// proxy-mirror): a copy of each request, or of a sampled share, goes to a
// shadow upstream; its answer is read and dropped.
type mirrorConfig struct {
	// Upstream receives the copies (its balancer and health). Required.
	Upstream string `yaml:"upstream" desc:"the shadow upstream that receives the copies; required"`
	// Sample is the percentage of requests copied, 0 < sample <= 100.
	// Default 100.
	Sample float64 `yaml:"sample" desc:"percentage of requests copied, (0, 100]; default 100"`
	// Path is a template of the copy's path and query. Default: the
	// request's ("{uri}").
	Path string `yaml:"path" desc:"template of the copy's path and query; default the request's own ({uri})"`
	// Method of the copy. Default: the request's.
	Method string `yaml:"method" desc:"method of the copy; default the request's"`
	// Headers lists the request fields copied. Default: every field but
	// hop-by-hop ones, Host and the framing.
	Headers []string `yaml:"headers" desc:"request fields copied; default all but hop-by-hop fields, Host and framing"`
	// Body copies request bodies of at most MaxBody bytes with a
	// Content-Length: the body is then read whole before the request goes
	// upstream. Without it, requests with a body are not mirrored. Default
	// false.
	Body bool `yaml:"body" desc:"copy request bodies (read whole first, at most max_body, Content-Length only); without it requests with a body are not mirrored; default false"`
	// MaxBody caps a copied body; larger ones are not mirrored. Default 64KiB.
	MaxBody config.Size `yaml:"max_body" desc:"largest body copied (a larger request is not mirrored); default 64KiB"`
	// Timeout bounds a copy. Default 1s.
	Timeout config.Duration `yaml:"timeout" desc:"bound on a copy's exchange; default 1s"`
	// MaxInFlight caps, per worker, the copies that may still be running:
	// those started less than Timeout ago. Past it copies are dropped and
	// counted. Default 1000; -1: no cap but the engine's offload pool.
	MaxInFlight int `yaml:"max_in_flight" desc:"per worker, most copies started less than timeout ago (maybe still running); past it copies are dropped; default 1000, -1 for no cap"`
}

// mirror sends copies in the access phase with Ctx.Mirror: the worker
// picks the shadow's target, the exchange runs off the loop, the request
// goes on at once. Sampling is deterministic: each worker keeps a running
// sum of the share and copies a request each time it passes a whole one,
// so exactly sample% of a worker's requests are copied, spread evenly.
type mirror struct {
	upstream string
	share    uint64 // sample * 1e4: parts per million
	path     *engine.Template
	method   string
	headers  []string // nil: all but the excluded
	body     bool
	maxBody  int64
	timeout  time.Duration
	inFlight int // per worker; 0: no cap
	workers  perWorker[mirrorWorker]
	reading  engine.IntKey         // 1 while the body of a sampled request is read
	copies   *engine.PolicyCounter // sluice_mirror_copies_total; nil without an Env
}

// mirrorWorker is a worker's sampling sum and in-flight ring. Only its
// loop touches them: no cache line is shared between workers.
type mirrorWorker struct {
	acc uint64
	// ends holds the deadlines of the worker's last inFlight copies, a
	// ring whose oldest entry is at next: the cap is reached while that
	// copy may still run. The engine reports no copy's completion, so a
	// copy counts until its timeout.
	ends []int64
	next int
}

// mirrorCopies is the family of the policy's counts, on /metrics.
var mirrorCopies = engine.CounterOpts{
	Name:   "sluice_mirror_copies_total",
	Help:   "Requests sampled by the mirror policy: sent (a copy handed to the engine), dropped (max_in_flight reached, no usable target in the shadow upstream, or the offload pool full), skipped (a body the policy does not copy: chunked, over max_body, or body: false).",
	Label:  "result",
	Values: []string{"sent", "dropped", "skipped"},
}

// The results of sluice_mirror_copies_total, by index.
const (
	mirrorSent = iota
	mirrorDropped
	mirrorSkipped
)

// mirrorPriority copies requests after authentication and limits (a
// refused request is not copied) and before content answers.
const mirrorPriority = 800

const (
	millionth         = 1_000_000
	defaultMirrorBody = 64 << 10
)

func init() { RegisterConfig("mirror", mirrorConfig{}, newMirror) }

func newMirror(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg mirrorConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.Upstream == "" {
		return nil, config.FieldError(spec, "upstream", "is required: the shadow upstream")
	}
	if !env.HasUpstream(cfg.Upstream) {
		return nil, config.FieldErrorf(spec, "upstream", "unknown upstream %q", cfg.Upstream)
	}
	if cfg.Sample == 0 {
		cfg.Sample = 100
	}
	if cfg.Sample < 0 || cfg.Sample > 100 || math.IsNaN(cfg.Sample) {
		return nil, config.FieldError(spec, "sample", fmt.Sprintf("must be a percentage in (0, 100], got %v", cfg.Sample))
	}
	p := &mirror{
		upstream: cfg.Upstream,
		share:    uint64(math.Round(cfg.Sample * 1e4)),
		body:     cfg.Body,
		maxBody:  int64(cfg.MaxBody),
		timeout:  cfg.Timeout.Std(),
	}
	if p.share == 0 {
		return nil, config.FieldError(spec, "sample", "is below one request in a million")
	}
	if env != nil {
		var err error
		if p.copies, err = env.Counter(mirrorCopies); err != nil {
			return nil, err
		}
	}
	if p.maxBody == 0 {
		p.maxBody = defaultMirrorBody
	}
	if p.timeout <= 0 {
		p.timeout = time.Second
	}
	switch {
	case cfg.MaxInFlight == 0:
		p.inFlight = 1000
	case cfg.MaxInFlight == -1:
	case cfg.MaxInFlight < 0 || cfg.MaxInFlight > 1_000_000:
		return nil, config.FieldError(spec, "max_in_flight", fmt.Sprintf("must be between 1 and 1000000, or -1 for no cap; got %d", cfg.MaxInFlight))
	default:
		p.inFlight = cfg.MaxInFlight
	}
	if cfg.Path != "" {
		if !strings.HasPrefix(cfg.Path, "/") {
			return nil, config.FieldError(spec, "path", fmt.Sprintf("must start with '/', got %q", cfg.Path))
		}
		t, err := engine.ParseTemplate(cfg.Path)
		if err != nil {
			return nil, config.FieldError(spec, "path", err.Error())
		}
		p.path = t
	}
	if cfg.Method != "" {
		p.method = strings.ToUpper(cfg.Method)
		if !http1.ValidFieldName(p.method) {
			return nil, config.FieldError(spec, "method", fmt.Sprintf("not a method: %q", cfg.Method))
		}
	}
	for i, h := range cfg.Headers {
		if !http1.ValidFieldName(h) {
			return nil, config.FieldError(spec, fmt.Sprintf("headers[%d]", i), fmt.Sprintf("%q is not a valid field name", h))
		}
		if why := mirrorExcluded(h); why {
			return nil, config.FieldError(spec, fmt.Sprintf("headers[%d]", i), h+" is not copied: framing, hop-by-hop and Host fields are the copy's own")
		}
		p.headers = append(p.headers, h)
	}
	return p, nil
}

// mirrorExcluded says whether a request field stays out of copies.
func mirrorExcluded(name string) bool {
	return strings.EqualFold(name, "Host") || strings.EqualFold(name, "Content-Length") ||
		strings.EqualFold(name, "Transfer-Encoding") || strings.EqualFold(name, "Expect") ||
		http1.IsHopByHop([]byte(name))
}

func (p *mirror) Priority() int { return mirrorPriority }

func (p *mirror) Install(c *engine.ChainBuilder) error {
	p.reading = c.PrivateInt()
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

// sampled advances worker w's running sum and says whether this request
// is copied.
func (p *mirror) sampled(w int) bool {
	s := p.workers.get(w)
	s.acc += p.share
	if s.acc < millionth {
		return false
	}
	s.acc -= millionth
	return true
}

func (p *mirror) access(x *engine.Ctx) engine.Status {
	// A sampled request whose body was being read runs again once it is in.
	if x.Int(p.reading) == 0 && !p.sampled(x.WorkerID()) {
		return engine.Continue
	}
	return p.copyRequest(x, p.workers.get(x.WorkerID()))
}

// copyRequest sends the copy; with a body it reads the body first and runs
// again once it is in (ReadBody re-runs the handler).
func (p *mirror) copyRequest(x *engine.Ctx, w *mirrorWorker) engine.Status {
	if x.HasBody() && (!p.body || x.ContentLength() < 0 || x.ContentLength() > p.maxBody) {
		// A chunked body has no length to check before reading it, and
		// ReadBody past its limit would refuse the request itself.
		p.copies.Inc(x, mirrorSkipped)
		return engine.Continue
	}
	// The place is taken before the body is read (not again when the
	// handler runs with it): a copy that will be dropped reads nothing.
	if x.Int(p.reading) == 0 && !p.admit(w, x.Now()) {
		p.copies.Inc(x, mirrorDropped)
		return engine.Continue
	}
	var body []byte
	if x.HasBody() {
		b, s := x.ReadBody(p.maxBody)
		if s == engine.Suspend {
			x.SetInt(p.reading, 1) // the handler runs again with the body
			return s
		}
		if s != engine.Continue {
			return s
		}
		body = append([]byte(nil), b...) // the copy outlives the request's buffers
	}
	sr := engine.SubRequest{Upstream: p.upstream, Timeout: p.timeout, Body: body, NoHeader: true} // the answer is discarded
	if p.method != "" {
		sr.Method = p.method
	} else {
		sr.Method = string(x.MethodName())
	}
	if p.path != nil {
		t, _ := p.path.Append(x.Scratch(), x)
		sr.Target = string(t)
		x.ScratchDone(t)
	} else {
		sr.Target = string(x.Target())
	}
	sr.Header = make(http.Header)
	if p.headers != nil {
		for _, h := range p.headers {
			if v, ok := x.Header(h); ok {
				sr.Header[http.CanonicalHeaderKey(h)] = []string{string(v)}
			}
		}
	} else {
		x.VisitHeaders(func(name, value []byte) bool {
			if !mirrorExcluded(string(name)) {
				sr.Header.Add(string(name), string(value))
			}
			return true
		})
	}
	if _, ok := sr.Header["User-Agent"]; !ok {
		sr.Header["User-Agent"] = []string{""} // net/http would add its own
	}
	sr.Host = string(x.Host())
	if !x.Mirror(sr) {
		p.copies.Inc(x, mirrorDropped) // its place stays taken until its timeout: a conservative count
		return engine.Continue
	}
	p.copies.Inc(x, mirrorSent)
	return engine.Continue
}

// admit takes a place among the worker's copies in flight for a copy
// starting at now, or reports false when they are all taken.
func (p *mirror) admit(w *mirrorWorker, now int64) bool {
	if p.inFlight == 0 {
		return true
	}
	if w.ends == nil {
		w.ends = make([]int64, p.inFlight) // once per worker
	}
	if w.ends[w.next] > now {
		return false
	}
	w.ends[w.next] = now + int64(p.timeout)
	w.next++
	if w.next == len(w.ends) {
		w.next = 0
	}
	return true
}
