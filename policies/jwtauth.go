package policies

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// jwtAuthConfig is the `jwt-auth` policy's config: a JSON Web Token signed
// with a key of a consumer's jwt credentials.
type jwtAuthConfig struct {
	// Header is the request field holding the token. Default
	// "Authorization", with the Bearer scheme; in another field the value
	// is the token (a "Bearer " prefix is accepted). "-" disables it.
	Header string `yaml:"header" desc:"request field holding the token; default Authorization (Bearer scheme); - to disable"`
	// QueryArg is a query argument holding the token, tried after the
	// header. Default none.
	QueryArg string `yaml:"query_arg" desc:"query argument holding the token, tried after the header; default none"`
	// Cookie is a cookie holding the token, tried last. Default none.
	Cookie string `yaml:"cookie" desc:"cookie holding the token, tried last; default none"`
	// KeyClaim is the claim whose value names the credential (its key):
	// "iss" (Kong's default), "key" (APISIX's), any claim, or "kid" for the
	// token header's kid. Default "iss".
	KeyClaim string `yaml:"key_claim" desc:"claim naming the credential (iss, key, any claim) or kid for the header's kid; default iss"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 0.
	Leeway config.Duration `yaml:"leeway" desc:"clock skew allowed on exp, nbf and iat; default 0"`
	// AllowMissingExp accepts tokens without exp (they never expire).
	// Default false: exp is required.
	AllowMissingExp bool `yaml:"allow_missing_exp" desc:"accept tokens without exp; default false (exp required)"`
	// MaxLifetime refuses tokens valid longer than this: exp - iat, or
	// exp - now without iat. Default 0: no limit.
	MaxLifetime config.Duration `yaml:"max_lifetime" desc:"refuse tokens whose exp - iat (or exp - now) exceeds this; default no limit"`
	// Issuers, when set, are the accepted values of iss. Default any.
	Issuers []string `yaml:"issuers" desc:"accepted iss values; default any"`
	// Audiences, when set, are accepted audiences: aud must hold one of
	// them. Default: aud is not checked.
	Audiences []string `yaml:"audiences" desc:"aud must hold one of these; default not checked"`
	// ClaimsToHeaders sends claims upstream: claim name -> field name
	// ({company_id: X-Company-Id}). A field of that name sent by the client
	// is removed. Strings, numbers and booleans only. Default none.
	ClaimsToHeaders map[string]string `yaml:"claims_to_headers" desc:"claims sent upstream, claim -> field name; client-sent fields of those names are removed; default none"`
	// CacheSize is the number of verified tokens each worker keeps (a hit
	// does not verify the signature again; exp and nbf are still checked).
	// Default 1024; -1 disables the cache.
	CacheSize int `yaml:"cache_size" desc:"verified tokens kept per worker; default 1024; -1 disables"`
	// JWKSRefresh is how often a JWKS is fetched again. Default 5m.
	JWKSRefresh config.Duration `yaml:"jwks_refresh" desc:"how often a JWKS is fetched again; default 5m"`
	// JWKSMinRefresh is the least time between two fetches of a JWKS made
	// because a token named an unknown kid. Default 30s.
	JWKSMinRefresh config.Duration `yaml:"jwks_min_refresh" desc:"least time between fetches caused by an unknown kid; default 30s"`
	// JWKSTimeout bounds one JWKS fetch. Default 5s (and the request waits
	// at most client.policy_timeout).
	JWKSTimeout config.Duration `yaml:"jwks_timeout" desc:"bound of one JWKS fetch; default 5s"`

	Auth authConfig `yaml:",inline"`
}

// jwtAuth verifies a token with the credential its key claim (or kid)
// names, with that credential's algorithm only — the token's alg must
// equal it, so "none" and an HMAC token checked with an RSA public key
// (algorithm confusion) are refused. jku, x5u and x5c are never followed:
// keys come from the config or the credential's configured JWKS URL.
type jwtAuth struct {
	authBase
	header, queryArg, cookie string
	bearer                   bool
	keyClaim                 string
	leeway                   time.Duration
	requireExp               bool
	maxLifetime              time.Duration
	issuers, audiences       []string
	claimHeaders             []claimHeader
	cacheSize                int
	parser                   *jwt.Parser
	invalidChallenge         []byte // the challenge with error="invalid_token"

	jwksRefresh, jwksMinRefresh, jwksTimeout time.Duration
	jwksMu                                   sync.Mutex
	jwks                                     map[string]*jwksSource
	httpClient                               *http.Client

	seed  maphash.Seed
	cache perWorker[tokenCache]
}

type claimHeader struct {
	claim  string
	header []byte
}

// jwtClaims are a verified token's claims that variables and headers use:
// strings, numbers and booleans, as text. Read only.
type jwtClaims struct {
	strs map[string]string
}

var jwtClaimsKey = engine.NewKey[*jwtClaims]("jwt_claims")

func init() {
	RegisterConfig("jwt-auth", jwtAuthConfig{}, newJWTAuth)
	// {jwt_claim_company_id}: a claim of the token jwt-auth verified.
	engine.RegisterVariablePrefix("jwt_claim_", func(name string) (engine.VarFunc, error) {
		return func(x *engine.Ctx, dst []byte) ([]byte, bool) {
			c, ok := engine.Get(x, jwtClaimsKey)
			if !ok || c == nil {
				return dst, false
			}
			v, ok := c.strs[name]
			return append(dst, v...), ok
		}, nil
	})
}

const (
	defaultJWTCacheSize   = 1024
	defaultJWKSRefresh    = 5 * time.Minute
	defaultJWKSMinRefresh = 30 * time.Second
	defaultJWKSTimeout    = 5 * time.Second
)

func newJWTAuth(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg jwtAuthConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &jwtAuth{
		header: cfg.Header, queryArg: cfg.QueryArg, cookie: cfg.Cookie,
		keyClaim: cfg.KeyClaim, leeway: cfg.Leeway.Std(), requireExp: !cfg.AllowMissingExp,
		maxLifetime: cfg.MaxLifetime.Std(), issuers: cfg.Issuers, audiences: cfg.Audiences,
		cacheSize: cfg.CacheSize, seed: maphash.MakeSeed(),
		jwksRefresh: cfg.JWKSRefresh.Std(), jwksMinRefresh: cfg.JWKSMinRefresh.Std(), jwksTimeout: cfg.JWKSTimeout.Std(),
		jwks: map[string]*jwksSource{},
	}
	switch p.header {
	case "":
		p.header = "Authorization"
	case "-":
		p.header = ""
	}
	if p.header != "" && !http1.ValidFieldName(p.header) {
		return nil, config.FieldError(spec, "header", "not a field name: "+quote(p.header))
	}
	p.bearer = strings.EqualFold(p.header, "Authorization")
	if p.header == "" && p.queryArg == "" && p.cookie == "" {
		return nil, config.FieldError(spec, "header", "no place to read the token from: set header, query_arg or cookie")
	}
	if p.keyClaim == "" {
		p.keyClaim = "iss"
	}
	// config.Duration refuses a negative value when it is decoded, under
	// the field's path; this guard names the right field too (it put
	// max_lifetime under leeway) should that ever change.
	if p.leeway < 0 {
		return nil, config.FieldError(spec, "leeway", "must not be negative")
	}
	if p.maxLifetime < 0 {
		return nil, config.FieldError(spec, "max_lifetime", "must not be negative")
	}
	switch {
	case p.cacheSize == 0:
		p.cacheSize = defaultJWTCacheSize
	case p.cacheSize < -1:
		return nil, config.FieldError(spec, "cache_size", "must be -1 (no cache), 0 (default) or more")
	}
	if p.jwksRefresh <= 0 {
		p.jwksRefresh = defaultJWKSRefresh
	}
	if p.jwksMinRefresh <= 0 {
		p.jwksMinRefresh = defaultJWKSMinRefresh
	}
	if p.jwksTimeout <= 0 {
		p.jwksTimeout = defaultJWKSTimeout
	}
	p.httpClient = &http.Client{Timeout: p.jwksTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("jwks: redirects are not followed")
	}}
	for claim, h := range cfg.ClaimsToHeaders {
		if !http1.ValidFieldName(h) || gatewayOwned(h, true) != "" {
			return nil, config.FieldError(spec, "claims_to_headers."+claim, "not a field the policy may set: "+quote(h))
		}
		p.claimHeaders = append(p.claimHeaders, claimHeader{claim: claim, header: []byte(h)})
	}
	opts := []jwt.ParserOption{jwt.WithLeeway(p.leeway), jwt.WithIssuedAt(), jwt.WithJSONNumber()}
	if p.requireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	p.parser = jwt.NewParser(opts...)
	if err := p.init(spec, env, cfg.Auth, "Bearer"); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *jwtAuth) Priority() int { return jwtAuthPriority }

func (p *jwtAuth) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

// Cleanup stops the JWKS refreshers.
func (p *jwtAuth) Cleanup() {
	p.jwksMu.Lock()
	defer p.jwksMu.Unlock()
	for _, s := range p.jwks {
		s.close()
	}
}

func (p *jwtAuth) access(x *engine.Ctx) engine.Status {
	if p.anonymous != "" && authenticated(x) {
		return engine.Continue
	}
	token, where := p.token(x)
	if len(token) == 0 {
		return p.missing(x, "missing token")
	}
	set := p.set(x)
	if p.cacheSize > 0 {
		if e := p.cache.get(x.WorkerID()).find(p.seed, token); e != nil && e.set == set {
			now := x.Now()
			lw := int64(p.leeway)
			if (e.exp == 0 || now <= e.exp+lw) && (e.nbf == 0 || now >= e.nbf-lw) {
				return p.allow(x, e.consumer, e.claims, where)
			}
		}
	}
	return p.verify(x, set, token, where, true)
}

// token returns the token and where it came from: 'h'eader, 'q'uery or
// 'c'ookie.
func (p *jwtAuth) token(x *engine.Ctx) ([]byte, byte) {
	if p.header != "" {
		if v, ok := x.Header(p.header); ok {
			if len(v) > 7 && equalFold(v[:7], "bearer ") {
				return bytes.Trim(v[7:], " \t"), 'h'
			}
			if !p.bearer && len(v) > 0 {
				return v, 'h'
			}
		}
	}
	if p.queryArg != "" {
		if v, ok := x.Arg(p.queryArg); ok && len(v) > 0 {
			return v, 'q'
		}
	}
	if p.cookie != "" {
		if v, ok := x.Cookie(p.cookie); ok && len(v) > 0 {
			return v, 'c'
		}
	}
	return nil, 0
}

func (p *jwtAuth) allow(x *engine.Ctx, c *authConsumer, claims *jwtClaims, where byte) engine.Status {
	p.accept(x, c, false)
	engine.Set(x, jwtClaimsKey, claims)
	for _, ch := range p.claimHeaders {
		if v, ok := claims.strs[ch.claim]; ok {
			x.SetRequestHeader(ch.header, bytesOf(v))
		} else {
			x.RemoveRequestHeader(ch.header)
		}
	}
	if p.hide {
		switch where {
		case 'h':
			x.RemoveRequestHeader(bytesOf(p.header))
		case 'q':
			removeQueryArg(x, p.queryArg)
		case 'c':
			removeCookie(x, p.cookie)
		}
	}
	return engine.Continue
}

// errNeedJWKS: the credential's JWKS has no key of the token's kid yet and
// may be fetched (again).
var errNeedJWKS = errors.New("jwks refresh needed")

// verify checks the token on the loop (a signature costs microseconds);
// when its key must come from a JWKS not fetched yet, or that lacks its
// kid, the fetch runs off the loop and the check is made again after it.
func (p *jwtAuth) verify(x *engine.Ctx, set *consumerSet, token []byte, where byte, mayFetch bool) engine.Status {
	var entry jwtEntry
	var src *jwksSource
	tok, err := p.parser.Parse(string(token), func(t *jwt.Token) (any, error) {
		var ok bool
		entry, ok = p.credentialOf(set, t)
		if !ok {
			return nil, errUnknownKey
		}
		cred := entry.cred
		if t.Method == nil || t.Method.Alg() != cred.Algorithm {
			return nil, errWrongAlg
		}
		if cred.JWKSURL == "" {
			return cred.KeyMaterial(), nil
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errUnknownKey
		}
		src = p.jwksOf(cred.JWKSURL)
		k, ok := src.lookup(kid)
		if !ok {
			if mayFetch && src.mayRefresh() {
				return nil, errNeedJWKS
			}
			return nil, errUnknownKey
		}
		if (k.alg != "" && k.alg != cred.Algorithm) || config.CheckJWTKey(cred.Algorithm, k.key) != nil {
			return nil, errWrongAlg
		}
		return k.key, nil
	})
	if errors.Is(err, errNeedJWKS) {
		return x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
			src.refresh(ctx, p.httpClient)
			return func(x *engine.Ctx) engine.Status {
				t, w := p.token(x)
				return p.verify(x, set, t, w, false)
			}
		})
	}
	if err != nil {
		return p.refuseToken(x, jwtReason(err))
	}
	claims := tok.Claims.(jwt.MapClaims)
	if reason := p.checkClaims(claims, x.Now()); reason != "" {
		return p.refuseToken(x, reason)
	}
	c := &jwtClaims{strs: claimStrings(claims)}
	if p.cacheSize > 0 {
		e := &cachedToken{token: string(token), consumer: entry.consumer, claims: c, set: set}
		e.exp, e.nbf = unixNanos(claims["exp"]), unixNanos(claims["nbf"])
		p.cache.get(x.WorkerID()).add(p.seed, e, p.cacheSize)
	}
	return p.allow(x, entry.consumer, c, where)
}

// refuseToken answers an invalid token: 401 with the RFC 6750 challenge.
func (p *jwtAuth) refuseToken(x *engine.Ctx, reason string) engine.Status {
	p.results.Inc(x, authResultInvalid)
	x.RespondErrorFields(401, p.invalidChallenge, "invalid token: "+reason)
	return engine.Done
}

var (
	errUnknownKey = errors.New("unknown key")
	errWrongAlg   = errors.New("algorithm not allowed for this key")
)

// jwtReason says why a token was refused, without quoting it.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, errUnknownKey):
		return "unknown key"
	case errors.Is(err, errWrongAlg):
		return "algorithm not allowed for this key"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "exp is required"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable"
	}
	return "refused"
}

// credentialOf finds the credential the token names.
func (p *jwtAuth) credentialOf(set *consumerSet, t *jwt.Token) (jwtEntry, bool) {
	var key string
	if p.keyClaim == "kid" {
		key, _ = t.Header["kid"].(string)
	} else if mc, ok := t.Claims.(jwt.MapClaims); ok {
		key, _ = mc[p.keyClaim].(string)
	}
	if key == "" {
		return jwtEntry{}, false
	}
	e, ok := set.jwt[key]
	return e, ok
}

// checkClaims checks what the parser does not: issuers, audiences, the
// maximum lifetime.
func (p *jwtAuth) checkClaims(c jwt.MapClaims, now int64) string {
	if len(p.issuers) > 0 {
		iss, _ := c["iss"].(string)
		if !contains(p.issuers, iss) {
			return "issuer not accepted"
		}
	}
	if len(p.audiences) > 0 {
		auds, err := c.GetAudience()
		ok := false
		for _, a := range auds {
			ok = ok || err == nil && contains(p.audiences, a)
		}
		if !ok {
			return "audience not accepted"
		}
	}
	if p.maxLifetime > 0 {
		exp := unixNanos(c["exp"])
		start := unixNanos(c["iat"])
		if start == 0 || start > now {
			start = now
		}
		if exp == 0 || time.Duration(exp-start) > p.maxLifetime {
			return "lifetime too long"
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// unixNanos reads a NumericDate claim (seconds) as unix nanoseconds; 0 when
// absent or not a number.
func unixNanos(v any) int64 {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case interface{ Float64() (float64, error) }:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0
		}
	default:
		return 0
	}
	if f <= 0 || f > math.MaxInt64/1e9 {
		return 0
	}
	return int64(f * 1e9)
}

// claimStrings keeps the claims that have a text form.
func claimStrings(c jwt.MapClaims) map[string]string {
	m := make(map[string]string, len(c))
	for k, v := range c {
		switch t := v.(type) {
		case string:
			if visibleOrSpaceString(t) {
				m[k] = t
			}
		case bool:
			m[k] = strconv.FormatBool(t)
		case fmt.Stringer: // json.Number
			m[k] = t.String()
		case float64:
			m[k] = strconv.FormatFloat(t, 'f', -1, 64)
		}
	}
	return m
}

// visibleOrSpaceString refuses control characters: a claim may be sent as
// a header value.
func visibleOrSpaceString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// cachedToken is a verified token, kept by one worker.
type cachedToken struct {
	token    string
	consumer *authConsumer
	claims   *jwtClaims
	set      *consumerSet
	exp, nbf int64 // unix nanoseconds; 0: absent
}

// tokenCache is one worker's verified tokens: bounded, a random entry
// leaves when it is full. Only its worker's loop touches it.
type tokenCache struct {
	m map[uint64]*cachedToken
}

func (c *tokenCache) find(seed maphash.Seed, token []byte) *cachedToken {
	e := c.m[maphash.Bytes(seed, token)]
	if e == nil || subtle.ConstantTimeCompare(bytesOf(e.token), token) != 1 {
		return nil
	}
	return e
}

func (c *tokenCache) add(seed maphash.Seed, e *cachedToken, max int) {
	if c.m == nil {
		c.m = make(map[uint64]*cachedToken)
	}
	if len(c.m) >= max {
		for k := range c.m { // map order is random: a random victim
			delete(c.m, k)
			break
		}
	}
	c.m[maphash.String(seed, e.token)] = e
}

// jwksOf returns the source of url, starting its refresher on first use.
func (p *jwtAuth) jwksOf(url string) *jwksSource {
	p.jwksMu.Lock()
	defer p.jwksMu.Unlock()
	s := p.jwks[url]
	if s == nil {
		s = newJWKSSource(url, p.jwksRefresh, p.jwksMinRefresh, p.httpClient)
		p.jwks[url] = s
	}
	return s
}

// invalidChallenge is the challenge of a refused token (RFC 6750).
func (p *jwtAuth) init(spec config.PolicySpec, env *engine.Env, cfg authConfig, scheme string) error {
	if err := p.authBase.init(spec, env, cfg, scheme); err != nil {
		return err
	}
	ch := string(p.challenge)
	p.invalidChallenge = []byte(strings.TrimSuffix(ch, "\r\n") + `, error="invalid_token"` + "\r\n")
	return nil
}
