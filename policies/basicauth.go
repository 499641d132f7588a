package policies

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// basicAuthConfig is the `basic-auth` policy's config: RFC 7617 Basic
// credentials checked against the consumers' bcrypt hashes.
type basicAuthConfig struct {
	// CacheSize is the number of verified username/password pairs each
	// worker keeps, so that a returning client does not pay bcrypt (tens
	// of milliseconds) again. Default 1024; -1 disables the cache.
	CacheSize int `yaml:"cache_size" desc:"verified credentials kept per worker (a hit skips bcrypt); default 1024; -1 disables"`

	Auth authConfig `yaml:",inline"`
}

// basicAuth checks Authorization: Basic. bcrypt is slow by design, so a
// miss runs it off the loop (Ctx.Offload); a verified pair is cached per
// worker under the SHA-256 of username, a zero byte and password (the
// password itself is never kept), compared in constant time.
type basicAuth struct {
	authBase
	cacheSize int
	cache     perWorker[basicCache]
}

func init() { RegisterConfig("basic-auth", basicAuthConfig{}, newBasicAuth) }

const defaultBasicCacheSize = 1024

func newBasicAuth(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg basicAuthConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &basicAuth{cacheSize: cfg.CacheSize}
	switch {
	case p.cacheSize == 0:
		p.cacheSize = defaultBasicCacheSize
	case p.cacheSize < -1:
		return nil, config.FieldError(spec, "cache_size", "must be -1 (no cache), 0 (default) or more")
	}
	if err := p.init(spec, env, cfg.Auth, "Basic"); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *basicAuth) Priority() int { return basicAuthPriority }

func (p *basicAuth) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

// maxBasicCredentials bounds the decoded user:password.
const maxBasicCredentials = 1024

func (p *basicAuth) access(x *engine.Ctx) engine.Status {
	if p.anonymous != "" && authenticated(x) {
		return engine.Continue
	}
	v, ok := x.Header("Authorization")
	if !ok || len(v) < 6 || !equalFold(v[:6], "basic ") {
		return p.missing(x, "missing basic credentials")
	}
	enc := bytes.Trim(v[6:], " \t")
	if base64.StdEncoding.DecodedLen(len(enc)) > maxBasicCredentials {
		return p.refuse(x, "invalid basic credentials")
	}
	var buf [maxBasicCredentials]byte
	n, err := base64.StdEncoding.Decode(buf[:], enc)
	if err != nil {
		return p.refuse(x, "invalid basic credentials")
	}
	userPass := buf[:n]
	colon := -1
	for i, c := range userPass {
		if c == ':' {
			colon = i
			break
		}
	}
	if colon < 0 {
		return p.refuse(x, "invalid basic credentials")
	}
	user, pass := userPass[:colon], userPass[colon+1:]
	set := p.set(x)
	entry, known := set.basic[string(user)]
	digest := sha256.Sum256(userPass) // user ":" pass: the colon separates, users have none
	if p.cacheSize > 0 && known {
		if c := p.cache.get(x.WorkerID()); c.hit(digest, entry.consumer, set) {
			return p.ok(x, entry.consumer)
		}
	}
	if !known {
		if set.someHash == nil {
			return p.refuse(x, "invalid basic credentials")
		}
		// Pay a bcrypt of the same cost anyway (against some consumer's
		// hash; the result is ignored), so that timing does not tell which
		// usernames exist.
		entry.hash = set.someHash
	}
	password := append([]byte(nil), pass...) // the worker's goroutine outlives the handler's views
	return x.Offload(func(context.Context) func(*engine.Ctx) engine.Status {
		err := bcrypt.CompareHashAndPassword(entry.hash, password)
		clear(password)
		return func(x *engine.Ctx) engine.Status {
			if err != nil || !known {
				return p.refuse(x, "invalid basic credentials")
			}
			if p.cacheSize > 0 {
				p.cache.get(x.WorkerID()).add(digest, entry.consumer, set, p.cacheSize)
			}
			return p.ok(x, entry.consumer)
		}
	})
}

func (p *basicAuth) ok(x *engine.Ctx, c *authConsumer) engine.Status {
	p.accept(x, c, false)
	if p.hide {
		x.RemoveRequestHeader(bAuthorization)
	}
	return engine.Continue
}

var bAuthorization = []byte("Authorization")

// basicCache is one worker's verified credentials, by digest. Bounded: a
// random entry leaves when it is full.
type basicCache struct {
	m map[[sha256.Size]byte]basicCached
}

type basicCached struct {
	digest   [sha256.Size]byte
	consumer *authConsumer
	set      *consumerSet
}

func (c *basicCache) hit(d [sha256.Size]byte, consumer *authConsumer, set *consumerSet) bool {
	e, ok := c.m[d]
	return ok && e.set == set && e.consumer == consumer && subtle.ConstantTimeCompare(e.digest[:], d[:]) == 1
}

func (c *basicCache) add(d [sha256.Size]byte, consumer *authConsumer, set *consumerSet, max int) {
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]basicCached)
	}
	if len(c.m) >= max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[d] = basicCached{digest: d, consumer: consumer, set: set}
}
