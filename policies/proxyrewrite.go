package policies

import (
	"bytes"
	"net/http"
	"regexp"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// proxyRewriteConfig is the `proxy-rewrite` policy's config: what the
// upstream is asked (path, host, method), or a redirect instead of asking
// it (APISIX's proxy-rewrite and redirect).
type proxyRewriteConfig struct {
	// URI replaces the path sent upstream: a template ("/v2{path}",
	// "/users/{arg_id}"); the query is kept. Exclusive with RegexURI.
	URI string `yaml:"uri" desc:"path sent upstream, a template (/v2{path}, /users/{path_param_id}); the query is kept; exclusive with regex_uri"`
	// RegexURI is [pattern, replacement]: a path that matches the regular
	// expression (RE2) is replaced, $1 or ${name} standing for captures;
	// a path that does not match is sent as it is.
	RegexURI []string `yaml:"regex_uri" desc:"[pattern, replacement]: a path matching the RE2 pattern is replaced ($1, ${name} for captures); others are sent as they are"`
	// Host is the Host sent upstream instead of the route's host setting.
	Host string `yaml:"host" desc:"Host sent upstream, instead of the route's host setting"`
	// Method is the method sent upstream.
	Method string `yaml:"method" desc:"method sent upstream"`
	// Redirect answers with a redirect instead of proxying.
	Redirect *redirectConfig `yaml:"redirect" desc:"answer with a redirect instead of proxying"`
}

type redirectConfig struct {
	// To is the Location: a template ("https://example.com{uri}").
	// Exclusive with HTTPS.
	To string `yaml:"to" desc:"the Location, a template (https://new.example.com{uri}); required unless https"`
	// Status is 301, 302, 303, 307 or 308. Default 302 (301 with https).
	Status int `yaml:"status" desc:"301, 302, 303, 307 or 308; default 302, 301 with https"`
	// HTTPS redirects a request that did not come over HTTPS (its
	// X-Forwarded-Proto, set by the TLS terminator in front, is not https)
	// to https://HOST/the same target; one that did is proxied.
	HTTPS bool `yaml:"https" desc:"redirect requests not made over https (X-Forwarded-Proto) to https://HOST + the same target; others are proxied"`
}

// proxyRewrite rewrites the upstream request in the rewrite phase, or
// answers a redirect there.
type proxyRewrite struct {
	uri      *engine.Template
	re       *regexp.Regexp
	replace  []byte
	host     []byte
	method   []byte
	redirect *engine.Template
	status   int
	https    bool
	bufs     perWorker[[]byte]
}

// proxyRewritePriority runs it first in the rewrite phase: the other
// policies see the request as the upstream will (a limit keyed by path
// counts the rewritten one only if it reads the upstream target; they read
// the client's).
const proxyRewritePriority = 5000

func init() { RegisterConfig("proxy-rewrite", proxyRewriteConfig{}, newProxyRewrite) }

func newProxyRewrite(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg proxyRewriteConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &proxyRewrite{}
	switch {
	case cfg.URI != "" && cfg.RegexURI != nil:
		return nil, config.FieldError(spec, "regex_uri", "is exclusive with uri; set one of them")
	case cfg.URI != "":
		if cfg.URI[0] != '/' && cfg.URI[0] != '{' {
			return nil, config.FieldErrorf(spec, "uri", "must start with / (or a variable), got %q", cfg.URI)
		}
		if !targetText(cfg.URI) {
			return nil, config.FieldErrorf(spec, "uri", "has a byte no request target may hold (space, control, non-ASCII or #): %q", cfg.URI)
		}
		t, err := engine.ParseTemplate(cfg.URI)
		if err != nil {
			return nil, config.FieldError(spec, "uri", err.Error())
		}
		p.uri = t
	case cfg.RegexURI != nil:
		if len(cfg.RegexURI) != 2 {
			return nil, config.FieldErrorf(spec, "regex_uri", "must be [pattern, replacement], got %d items", len(cfg.RegexURI))
		}
		re, err := regexp.Compile(cfg.RegexURI[0])
		if err != nil {
			return nil, config.FieldErrorf(spec, "regex_uri[0]", "not a regular expression (RE2): %v", err)
		}
		if len(cfg.RegexURI[1]) == 0 || cfg.RegexURI[1][0] != '/' && cfg.RegexURI[1][0] != '$' {
			return nil, config.FieldErrorf(spec, "regex_uri[1]", "must start with / (or a capture), got %q", cfg.RegexURI[1])
		}
		if !targetText(cfg.RegexURI[1]) {
			return nil, config.FieldErrorf(spec, "regex_uri[1]", "has a byte no request target may hold (space, control, non-ASCII or #): %q", cfg.RegexURI[1])
		}
		p.re, p.replace = re, []byte(cfg.RegexURI[1])
	}
	if cfg.Host != "" {
		if err := config.CheckHostOptionalPort(cfg.Host); err != nil {
			return nil, config.FieldError(spec, "host", err.Error())
		}
		p.host = []byte(cfg.Host)
	}
	if cfg.Method != "" {
		if !http1.ValidFieldName(cfg.Method) {
			return nil, config.FieldErrorf(spec, "method", "not a method: %q", cfg.Method)
		}
		p.method = []byte(cfg.Method)
	}
	if r := cfg.Redirect; r != nil {
		switch {
		case r.HTTPS && r.To != "":
			return nil, config.FieldError(spec, "redirect.to", "is exclusive with https (which sends to https://HOST + the same target)")
		case !r.HTTPS && r.To == "":
			return nil, config.FieldError(spec, "redirect.to", "is required (or https: true)")
		case r.To != "":
			// Checked here, not only when a redirect is made: a CR LF or
			// other control in the text would fail every request.
			if !http1.ValidFieldValue(r.To) {
				return nil, config.FieldErrorf(spec, "redirect.to", "has bytes not allowed in a Location value (controls, CR, LF, leading or trailing space): %q", r.To)
			}
			t, err := engine.ParseTemplate(r.To)
			if err != nil {
				return nil, config.FieldError(spec, "redirect.to", err.Error())
			}
			p.redirect = t
		}
		p.https, p.status = r.HTTPS, r.Status
		if p.status == 0 {
			p.status = http.StatusFound
			if r.HTTPS {
				p.status = http.StatusMovedPermanently
			}
		}
		switch p.status {
		case 301, 302, 303, 307, 308:
		default:
			return nil, config.FieldErrorf(spec, "redirect.status", "must be 301, 302, 303, 307 or 308, got %d", p.status)
		}
	}
	if p.uri == nil && p.re == nil && p.host == nil && p.method == nil && cfg.Redirect == nil {
		return nil, config.FieldError(spec, "", "changes nothing: set uri, regex_uri, host, method or redirect")
	}
	return p, nil
}

func (p *proxyRewrite) Priority() int { return proxyRewritePriority }

func (p *proxyRewrite) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseRewrite, p.rewrite)
	return nil
}

// Terminates: only a redirect without https answers every request.
func (p *proxyRewrite) Terminates() bool { return p.redirect != nil }

var (
	locationField = []byte("Location: ")
	fieldEnd      = []byte("\r\n")
	httpsScheme   = []byte("https://")
	httpsProto    = []byte("https")
)

func (p *proxyRewrite) rewrite(x *engine.Ctx) engine.Status {
	buf := p.bufs.get(x.WorkerID()) // copied by Respond and SetUpstreamTarget
	if p.https {
		if proto, ok := x.Header("X-Forwarded-Proto"); !ok || !bytes.EqualFold(proto, httpsProto) {
			if len(x.Host()) == 0 {
				// An HTTP/1.0 request without Host: "https://" + "" +
				// "/evil.com/x" is a Location browsers read as
				// https://evil.com/x.
				x.RespondError(400, "proxy-rewrite: the https redirect needs the request's Host")
				return engine.Done
			}
			*buf = append(append(append((*buf)[:0], locationField...), httpsScheme...), x.Host()...)
			*buf = append(*buf, x.Target()...)
			*buf = append(*buf, fieldEnd...)
			x.Respond(p.status, *buf, nil)
			return engine.Done
		}
	}
	if p.redirect != nil {
		*buf = append((*buf)[:0], locationField...)
		*buf, _ = p.redirect.Append(*buf, x)
		if !http1.ValidFieldValue(string((*buf)[len(locationField):])) {
			x.RespondError(500, "proxy-rewrite: the redirect target is not a valid field value")
			return engine.Done
		}
		*buf = append(*buf, fieldEnd...)
		x.Respond(p.status, *buf, nil)
		return engine.Done
	}
	if p.uri != nil || p.re != nil {
		path := x.Path()
		t := (*buf)[:0]
		switch {
		case p.uri != nil:
			t, _ = p.uri.Append(t, x)
		default:
			m := p.re.FindSubmatchIndex(path)
			if m == nil {
				t = append(t, path...)
			} else {
				t = append(t, path[:m[0]]...)
				t = p.re.Expand(t, p.replace, path, m)
				t = append(t, path[m[1]:]...)
			}
		}
		// The client's query is kept: after the new path's own query, if
		// the replacement made one.
		if q := x.Query(); len(q) > 0 {
			sep := byte('?')
			if bytes.IndexByte(t, '?') >= 0 {
				sep = '&'
			}
			t = append(append(t, sep), q...)
		}
		// What the client sent (a field with a space or obs-text in the
		// template, a path a capture-first replacement turns into
		// "users/v2") can make a target no request line may carry: the
		// engine refuses the edit, which answered 500 "policy failed"
		// for the client's bytes. Answer 400 and say why, never quoting
		// them.
		before := x.UpstreamEditError()
		x.SetUpstreamTarget(t)
		*buf = t
		if before == nil && x.UpstreamEditError() != nil {
			x.RespondError(400, "proxy-rewrite: the request makes the rewritten target invalid (it must start with / and hold no space, control or non-ASCII byte)")
			return engine.Done
		}
	}
	if p.host != nil {
		x.SetUpstreamHost(p.host)
	}
	if p.method != nil {
		x.SetUpstreamMethod(p.method)
	}
	return engine.Continue
}

// targetText says whether a uri template or replacement holds only what a
// request target may (visible ASCII without '#', as Ctx.SetUpstreamTarget
// requires): the values put in it are checked when the request is
// rewritten, the text itself once, here.
func targetText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '#' {
			return false
		}
	}
	return true
}
