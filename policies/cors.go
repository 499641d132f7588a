package policies

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// corsConfig is the `cors` policy's config (the Fetch standard's CORS
// protocol): which origins may read the route's responses from a browser,
// and what their preflight requests are told.
type corsConfig struct {
	// AllowOrigins lists the origins allowed: exact origins
	// ("https://app.example.com"), patterns whose first labels are a
	// wildcard ("https://*.example.com", one or more labels), or "*" alone
	// for every origin. Required. "null" is refused: sandboxed frames and
	// file: pages of any site send it.
	AllowOrigins []string `yaml:"allow_origins" desc:"allowed origins: exact (https://app.example.com), patterns (https://*.example.com) or * alone; required"`
	// AllowMethods answers preflights. Default GET, HEAD, PUT, PATCH, POST,
	// DELETE; ["*"] reflects the method asked for.
	AllowMethods []string `yaml:"allow_methods" desc:"methods a preflight is told; default GET, HEAD, PUT, PATCH, POST, DELETE; [\"*\"] reflects the requested one"`
	// AllowHeaders answers preflights. Default (or ["*"]): the fields the
	// preflight asked for, reflected.
	AllowHeaders []string `yaml:"allow_headers" desc:"request fields a preflight is told; default (or [\"*\"]): those it asked for"`
	// ExposeHeaders lists the response fields scripts may read. Default none.
	ExposeHeaders []string `yaml:"expose_headers" desc:"response fields scripts may read; default none"`
	// AllowCredentials lets requests with cookies or HTTP auth read the
	// response. With "*", the request's origin is echoed instead of "*" (a
	// browser refuses "*" with credentials). Default false.
	AllowCredentials bool `yaml:"allow_credentials" desc:"allow requests with credentials (cookies, HTTP auth); default false"`
	// MaxAge lets browsers cache a preflight's answer, whole seconds.
	// Default: not sent (browsers keep it 5s).
	MaxAge config.Duration `yaml:"max_age" desc:"how long browsers may cache a preflight answer; default not sent (5s in browsers)"`
}

// cors answers preflights in the access phase and adds the response fields
// in header_filter, to upstream responses and the gateway's own answers
// (401, 429, 502...) alike. A request from an origin not allowed gets no
// CORS field, and its preflight a 204 without them (what Kong and APISIX
// do: the browser then refuses the cross-origin request itself).
type cors struct {
	origins originSet
	// echo is true when Access-Control-Allow-Origin repeats the request's
	// origin (a list, patterns, or "*" with credentials); false: it is "*".
	echo        bool
	credentials bool

	allowMethods  []byte // "Access-Control-Allow-Methods: ...\r\n"; nil: reflect
	allowHeaders  []byte // "Access-Control-Allow-Headers: ...\r\n"; nil: reflect
	maxAge        []byte // "Access-Control-Max-Age: N\r\n"; nil: none
	exposeHeaders []byte // the value of Access-Control-Expose-Headers; nil: none
	answeredPrefl engine.IntKey
}

// corsPriority answers preflights before authentication (950-ish) and
// limits (900): browsers send preflights without credentials, and a 401
// to one fails the real request. Kong's cors runs at 2000 too.
const corsPriority = 2000

var defaultCORSMethods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}

func init() { RegisterConfig("cors", corsConfig{}, newCORS) }

func newCORS(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg corsConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &cors{credentials: cfg.AllowCredentials}
	if len(cfg.AllowOrigins) == 0 {
		return nil, config.FieldError(spec, "allow_origins", `is required: list the allowed origins ("https://app.example.com", "https://*.example.com") or "*"`)
	}
	for i, o := range cfg.AllowOrigins {
		if err := p.origins.add(o, len(cfg.AllowOrigins)); err != nil {
			return nil, config.FieldError(spec, "allow_origins["+itoa(i)+"]", err.Error())
		}
	}
	p.echo = !p.origins.any || p.credentials

	methods := cfg.AllowMethods
	if methods == nil {
		methods = defaultCORSMethods
	}
	var err error
	if p.allowMethods, err = preflightLine(spec, "allow_methods", "Access-Control-Allow-Methods: ", methods); err != nil {
		return nil, err
	}
	if p.allowHeaders, err = preflightLine(spec, "allow_headers", "Access-Control-Allow-Headers: ", cfg.AllowHeaders); err != nil {
		return nil, err
	}
	if p.exposeHeaders, err = joinTokens(spec, "expose_headers", cfg.ExposeHeaders); err != nil {
		return nil, err
	}
	if cfg.MaxAge.Std()%time.Second != 0 {
		// Access-Control-Max-Age is whole seconds: 500ms was sent as 0 (no
		// caching at all), 1.5s as 1.
		return nil, config.FieldError(spec, "max_age", "must be a whole number of seconds (Access-Control-Max-Age counts seconds), got "+cfg.MaxAge.Std().String())
	}
	if cfg.MaxAge > 0 {
		secs := int64(cfg.MaxAge.Std() / time.Second)
		p.maxAge = strconv.AppendInt([]byte("Access-Control-Max-Age: "), secs, 10)
		p.maxAge = append(p.maxAge, "\r\n"...)
	}
	return p, nil
}

// preflightLine makes the field line "Name: a, b\r\n" of a preflight
// answer; nil for an empty list or ["*"], which reflect what was asked.
func preflightLine(spec config.PolicySpec, key, nameColon string, names []string) ([]byte, error) {
	if len(names) == 0 || len(names) == 1 && names[0] == "*" {
		return nil, nil
	}
	v, err := joinTokens(spec, key, names)
	if err != nil {
		return nil, err
	}
	return appendFieldLine([]byte(nil), nameColon, v), nil
}

// joinTokens joins method or field names with ", "; nil for none. "*" is
// kept as it is (Access-Control-Expose-Headers: * exposes every field to
// requests without credentials).
func joinTokens(spec config.PolicySpec, key string, names []string) ([]byte, error) {
	var v []byte
	for i, n := range names {
		if n != "*" && !http1.ValidFieldName(n) {
			return nil, config.FieldError(spec, key+"["+itoa(i)+"]", "not a token (a method or field name): "+quote(n))
		}
		if i > 0 {
			v = append(v, ", "...)
		}
		v = append(v, n...)
	}
	return v, nil
}

// corsVariedOnOrigin is 1 once a cors of the request (global or the
// route's) sent Vary: Origin, so that the other does not send it again.
var corsVariedOnOrigin = engine.NewIntKey("cors_varied_on_origin")

func (p *cors) Priority() int { return corsPriority }

func (p *cors) Install(c *engine.ChainBuilder) error {
	p.answeredPrefl = c.PrivateInt()
	c.Add(engine.PhaseAccess, p.preflight)
	c.Add(engine.PhaseHeaderFilter, p.addFields)
	return nil
}

// preflight answers an OPTIONS request with Origin and
// Access-Control-Request-Method; any other request goes on.
func (p *cors) preflight(x *engine.Ctx) engine.Status {
	if x.Method() != http1.MethodOPTIONS {
		return engine.Continue
	}
	origin, ok := x.Header("Origin")
	if !ok {
		return engine.Continue
	}
	method, ok := x.Header("Access-Control-Request-Method")
	if !ok {
		return engine.Continue
	}
	f := x.Scratch()
	if p.allowed(origin) {
		if p.allowMethods != nil {
			f = append(f, p.allowMethods...)
		} else if len(method) > 0 {
			f = appendFieldLine(f, "Access-Control-Allow-Methods: ", method)
		}
		if p.allowHeaders != nil {
			f = append(f, p.allowHeaders...)
		} else if h, ok := x.Header("Access-Control-Request-Headers"); ok && len(h) > 0 {
			f = appendFieldLine(f, "Access-Control-Allow-Headers: ", h)
		}
		f = append(f, p.maxAge...)
	}
	f = append(f, "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n"...)
	x.SetInt(p.answeredPrefl, 1)
	x.SetInt(corsVariedOnOrigin, 1)
	x.Respond(204, f, nil)
	x.ScratchDone(f)
	return engine.Done
}

func appendFieldLine(dst []byte, nameColon string, value []byte) []byte {
	dst = append(dst, nameColon...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// addFields adds the CORS fields to every response of the route, the
// gateway's own answers included (they pass header_filter too).
func (p *cors) addFields(x *engine.Ctx) engine.Status {
	preflight := x.Int(p.answeredPrefl) != 0
	if p.echo && !preflight && x.Int(corsVariedOnOrigin) == 0 {
		// The answer depends on Origin: caches must keep one per origin,
		// also of answers without the fields. Once: a global and a
		// route's cors both run on the request.
		x.AddResponseHeader(bVary, bOrigin)
		x.SetInt(corsVariedOnOrigin, 1)
	}
	origin, ok := x.Header("Origin")
	if !ok || !p.allowed(origin) {
		return engine.Continue
	}
	if p.echo {
		x.SetResponseHeader(bAllowOrigin, origin)
	} else {
		x.SetResponseHeader(bAllowOrigin, bStar)
	}
	if p.credentials {
		x.SetResponseHeader(bAllowCredentials, bTrue)
	}
	if p.exposeHeaders != nil && !preflight {
		x.SetResponseHeader(bExposeHeaders, p.exposeHeaders)
	}
	return engine.Continue
}

var (
	bVary             = []byte("Vary")
	bOrigin           = []byte("Origin")
	bStar             = []byte("*")
	bTrue             = []byte("true")
	bAllowOrigin      = []byte("Access-Control-Allow-Origin")
	bAllowCredentials = []byte("Access-Control-Allow-Credentials")
	bExposeHeaders    = []byte("Access-Control-Expose-Headers")
)

// allowed says whether origin may read the route's responses. With "*"
// and credentials only a well-formed origin is echoed, never "null".
func (p *cors) allowed(origin []byte) bool {
	if p.origins.any {
		return !p.credentials || wellFormedOrigin(origin)
	}
	return p.origins.match(origin)
}

// originSet holds the allowed origins, compiled once: a set of exact
// origins and patterns matched by prefix and suffix, no regexp.
type originSet struct {
	any      bool
	exact    map[string]struct{}
	patterns []originPattern
}

// originPattern is "https://*.example.com:8443" as its prefix ("https://")
// and suffix (".example.com:8443"); the wildcard stands for one or more
// whole host labels.
type originPattern struct {
	prefix, suffix string
}

// add compiles one allowed origin; n is the length of the list, as "*"
// must be alone.
func (s *originSet) add(o string, n int) error {
	switch {
	case o == "*":
		if n > 1 {
			return errString(`"*" allows every origin: list it alone`)
		}
		s.any = true
		return nil
	case strings.EqualFold(o, "null"):
		return errString(`"null" is refused: sandboxed frames and file: pages of any site send it`)
	}
	o = strings.ToLower(o)
	star := strings.IndexByte(o, '*')
	if star < 0 {
		if err := checkOrigin(o); err != nil {
			return err
		}
		if s.exact == nil {
			s.exact = make(map[string]struct{})
		}
		s.exact[o] = struct{}{}
		return nil
	}
	scheme := strings.Index(o, "://")
	if scheme < 0 || star != scheme+3 || !strings.HasPrefix(o[star+1:], ".") || strings.Count(o, "*") != 1 {
		return errString("a wildcard stands for the first labels of the host only, as in https://*.example.com, got " + quote(o))
	}
	if err := checkOrigin(o[:star] + "x" + o[star+1:]); err != nil {
		return err
	}
	s.patterns = append(s.patterns, originPattern{prefix: o[:star], suffix: o[star+1:]})
	return nil
}

// checkOrigin refuses what is not a serialized origin: scheme://host[:port]
// and nothing else (no path, not even "/").
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o, "?#") {
		return errString("not an origin (scheme://host[:port], without a path or a trailing /): " + quote(o))
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// match reports whether origin is one of the set's. Browsers send origins
// in lower case, as the set holds them; any other spelling does not match.
func (s *originSet) match(origin []byte) bool {
	if _, ok := s.exact[string(origin)]; ok {
		return true
	}
	for i := range s.patterns {
		if s.patterns[i].match(origin) {
			return true
		}
	}
	return false
}

// match: the prefix, then one or more labels of [a-z0-9-], then the
// suffix. "https://example.com.evil.com" does not match
// "https://*.example.com" (the suffix must end the origin), nor does
// "https://evil.com/.example.com" or "https://a@b.example.com" (only label
// bytes may stand for the wildcard).
func (p *originPattern) match(origin []byte) bool {
	n := len(origin) - len(p.prefix) - len(p.suffix)
	if n <= 0 || !bytes.HasPrefix(origin, []byte(p.prefix)) || !bytes.HasSuffix(origin, []byte(p.suffix)) {
		return false
	}
	return labels(origin[len(p.prefix) : len(p.prefix)+n])
}

// labels says whether b is dot-separated non-empty labels of [a-z0-9-].
func labels(b []byte) bool {
	prevDot := true // no leading dot
	for _, c := range b {
		switch {
		case c == '.':
			if prevDot {
				return false
			}
			prevDot = true
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
			prevDot = false
		default:
			return false
		}
	}
	return !prevDot
}

// wellFormedOrigin accepts scheme://host[:port] in lower case, the way
// browsers serialize origins; "null" and anything else are refused.
func wellFormedOrigin(o []byte) bool {
	i := bytes.Index(o, []byte("://"))
	if i <= 0 || i+3 == len(o) {
		return false
	}
	for j, c := range o[:i] {
		if !('a' <= c && c <= 'z' || j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	for _, c := range o[i+3:] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
