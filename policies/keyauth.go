package policies

import (
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// keyAuthConfig is the `key-auth` policy's config: an API key, looked up
// among the consumers' key_auth credentials.
type keyAuthConfig struct {
	// Headers are the request fields the key is read from, in order.
	// Default ["apikey"] (with query_args empty) — Kong's and APISIX's name.
	Headers []string `yaml:"headers" desc:"request fields holding the key, tried in order; default [apikey] when query_args is empty too"`
	// QueryArgs are query arguments the key is read from, after the
	// headers. Default none.
	QueryArgs []string `yaml:"query_args" desc:"query arguments holding the key, tried after the headers; default none"`

	Auth authConfig `yaml:",inline"`
}

// keyAuth identifies the consumer by an API key. The key is found among
// the consumers' keys with a seeded hash and a constant-time compare; a
// hit allocates nothing.
type keyAuth struct {
	authBase
	headers   []string
	queryArgs []string
}

func init() { RegisterConfig("key-auth", keyAuthConfig{}, newKeyAuth) }

func newKeyAuth(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg keyAuthConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &keyAuth{headers: cfg.Headers, queryArgs: cfg.QueryArgs}
	if len(p.headers) == 0 && len(p.queryArgs) == 0 {
		p.headers = []string{"apikey"}
	}
	for i, h := range p.headers {
		if !http1.ValidFieldName(h) {
			return nil, config.FieldError(spec, "headers["+itoa(i)+"]", "not a field name: "+quote(h))
		}
	}
	for i, a := range p.queryArgs {
		if a == "" {
			return nil, config.FieldError(spec, "query_args["+itoa(i)+"]", "must not be empty")
		}
	}
	if err := p.init(spec, env, cfg.Auth, "Key"); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *keyAuth) Priority() int { return keyAuthPriority }

func (p *keyAuth) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

func (p *keyAuth) access(x *engine.Ctx) engine.Status {
	if p.anonymous != "" && authenticated(x) {
		return engine.Continue
	}
	key, header, arg := p.credential(x)
	if key == nil {
		return p.missing(x, "missing API key")
	}
	c, ok := p.set(x).keys.find(key)
	if !ok {
		return p.refuse(x, "invalid API key")
	}
	p.accept(x, c, false)
	if p.hide {
		if header != "" {
			x.RemoveRequestHeader(bytesOf(header))
		} else {
			removeQueryArg(x, arg)
		}
	}
	return engine.Continue
}

// credential returns the key and where it was found (a header name or a
// query argument name). An empty value counts as absent.
func (p *keyAuth) credential(x *engine.Ctx) (key []byte, header, arg string) {
	for _, h := range p.headers {
		if v, ok := x.Header(h); ok && len(v) > 0 {
			return v, h, ""
		}
	}
	for _, a := range p.queryArgs {
		if v, ok := x.Arg(a); ok && len(v) > 0 {
			return v, "", a
		}
	}
	return nil, "", ""
}
