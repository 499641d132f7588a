package policies

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// What the auth policies (key-auth, basic-auth, jwt-auth, hmac-auth) share:
// the consumers of a config indexed by credential, the fields sent
// upstream about the consumer, the anonymous consumer and the 401 answer.
//
// The engine gives a factory its policy's spec but not the config being
// compiled, so the consumer index cannot be built with the policy: it is
// built on the first request that needs it, from the request's snapshot,
// once per config (consumersOf), and every auth policy of that config
// shares it — one engine.Consumer per consumer, never one per request.

// authConfig is what every auth policy's config has (inlined in each).
type authConfig struct {
	// Anonymous names the consumer a request without any credential of
	// this kind becomes, instead of a 401. A wrong credential is still a
	// 401. Default "": credentials are required.
	Anonymous string `yaml:"anonymous" desc:"consumer given to requests without credentials (instead of 401); wrong credentials are still refused; default none"`
	// HideCredentials removes the credential from the request sent
	// upstream. Default false.
	HideCredentials bool `yaml:"hide_credentials" desc:"remove the credential from the upstream request; default false"`
	// ForwardMetadata lists consumer metadata keys sent upstream as
	// X-Consumer-<Key> fields (company_id: X-Consumer-Company-Id).
	// Default none.
	ForwardMetadata []string `yaml:"forward_metadata" desc:"consumer metadata keys sent upstream as X-Consumer-<Key> (company_id -> X-Consumer-Company-Id); default none"`
	// Realm is the realm of WWW-Authenticate. Default "sluice".
	Realm string `yaml:"realm" desc:"realm of WWW-Authenticate; default sluice"`
}

// authBase is the compiled authConfig, embedded by each auth policy.
type authBase struct {
	anonymous string
	hide      bool
	meta      []metaField
	challenge []byte // "WWW-Authenticate: Scheme realm=\"...\"\r\n"
	consumers atomic.Pointer[consumerSet]
	results   *engine.PolicyCounter // sluice_auth_total; nil without an Env
}

// The results of sluice_auth_total, by index.
const (
	authResultOK        = iota // a consumer identified by its credential
	authResultMissing          // no credential: 401
	authResultInvalid          // a wrong credential: 401
	authResultAnonymous        // no credential: the anonymous consumer
	authResultError            // the policy could not decide: 5xx
)

// authResults is the counter family every auth policy publishes.
var authResults = engine.CounterOpts{
	Name:   "sluice_auth_total",
	Help:   "Decisions of the auth policies (key-auth, jwt-auth, basic-auth, hmac-auth): ok (a consumer identified), missing (no credential: 401), invalid (a wrong credential: 401), anonymous (no credential: the anonymous consumer), error (no decision possible: 5xx).",
	Label:  "result",
	Values: []string{"ok", "missing", "invalid", "anonymous", "error"},
}

type metaField struct{ key, header string }

func (a *authBase) init(spec config.PolicySpec, env *engine.Env, cfg authConfig, scheme string) error {
	a.anonymous, a.hide = cfg.Anonymous, cfg.HideCredentials
	if env != nil {
		var err error
		if a.results, err = env.Counter(authResults); err != nil {
			return err
		}
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "sluice"
	}
	for i := 0; i < len(realm); i++ {
		if realm[i] < ' ' || realm[i] >= 0x7f || realm[i] == '"' || realm[i] == '\\' {
			return config.FieldError(spec, "realm", `must be printable ASCII without '"' or '\'`)
		}
	}
	a.challenge = []byte("WWW-Authenticate: " + scheme + ` realm="` + realm + "\"\r\n")
	for i, k := range cfg.ForwardMetadata {
		h := "X-Consumer-" + headerCase(k)
		if k == "" || !http1.ValidFieldName(h) {
			return config.FieldError(spec, "forward_metadata["+itoa(i)+"]", "must be a metadata key of [a-zA-Z0-9_-]+")
		}
		a.meta = append(a.meta, metaField{key: k, header: h})
	}
	return nil
}

// headerCase makes company_id Company-Id.
func headerCase(k string) string {
	b := []byte(strings.ReplaceAll(k, "_", "-"))
	up := true
	for i, c := range b {
		if up && 'a' <= c && c <= 'z' {
			b[i] = c - 32
		} else if !up && 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
		up = c == '-'
	}
	return string(b)
}

// set returns the consumer index of the request's config.
func (a *authBase) set(x *engine.Ctx) *consumerSet {
	cfg := x.Snapshot().Config
	if s := a.consumers.Load(); s != nil && s.cfg == cfg {
		return s
	}
	s := consumersOf(x.Snapshot())
	a.consumers.Store(s)
	return s
}

// authConsumer is a consumer as the auth policies use it, built once per
// config: one per credential (all sharing the consumer's engine.Consumer),
// so that whatever found it also knows which credential matched, and one
// without a credential for the anonymous consumer.
type authConsumer struct {
	c      *engine.Consumer
	groups string // X-Consumer-Groups: "a,b"
	// credential is the {credential} variable: the credential's identity,
	// never its secret (credentialID); "" for the anonymous consumer.
	credential string
}

// withCredential is a copy of c for the credential id.
func (c *authConsumer) withCredential(id string) *authConsumer {
	cp := *c
	cp.credential = id
	return &cp
}

// The identities of credentials, the {credential} variable (a limit keyed
// by credential counts each of a consumer's keys apart, as Kong's and
// APISIX's do). They name the auth type, so that a key-auth key and a
// basic-auth username never share a counter, and are the same on every
// node and after a reload, as Redis counters need. A key-auth key is a
// secret and the identity lands in Redis key names and logs, so it is
// named by the first 128 bits of a SHA-256 of it, never by itself; the
// others are named by what identifies them in requests, which is not
// secret (a basic-auth username, a JWT's iss or key, an HMAC keyId).
func keyAuthCredentialID(key string) string {
	sum := sha256.Sum256([]byte("sluice key-auth credential\x00" + key))
	return "key-auth:" + hex.EncodeToString(sum[:16])
}

// credentialKey holds the authConsumer that matched the request's
// credential, for the {credential} variable; nil when none did.
var credentialKey = engine.NewKey[*authConsumer]("auth_credential")

func init() {
	// {credential}: the identity of the credential that identified the
	// request; no value for a request without one (anonymous included).
	engine.RegisterVariable("credential", func(x *engine.Ctx, dst []byte) ([]byte, bool) {
		c, _ := engine.Get(x, credentialKey)
		if c == nil || c.credential == "" {
			return dst, false
		}
		return append(dst, c.credential...), true
	})
}

// consumerSet indexes a config's consumers by credential. Read only once
// built; safe for concurrent use.
type consumerSet struct {
	cfg    *config.Config
	byName map[string]*authConsumer
	keys   secretIndex[*authConsumer] // key-auth
	basic  map[string]basicEntry      // by username
	// someHash is the costliest bcrypt hash of basic, checked for unknown
	// usernames; nil without basic credentials.
	someHash []byte
	someCost int
	jwt      map[string]jwtEntry  // by key
	hmac     map[string]hmacEntry // by key id
}

type basicEntry struct {
	consumer *authConsumer
	hash     []byte
}

type jwtEntry struct {
	consumer *authConsumer
	cred     *config.JWTCredential
}

type hmacEntry struct {
	consumer *authConsumer
	secret   []byte
}

// consumerSets keeps the index of the last few configs (a config lives
// until the next reload; an older one only while its requests finish).
var consumerSets struct {
	mu   sync.Mutex
	sets []*consumerSet
}

const keptConsumerSets = 4

// consumersOf returns the index of snap's consumers, building it once per
// config.
func consumersOf(snap *engine.Snapshot) *consumerSet {
	cfg := snap.Config
	cs := &consumerSets
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, s := range cs.sets {
		if s.cfg == cfg {
			return s
		}
	}
	s := buildConsumerSet(snap)
	if len(cs.sets) == keptConsumerSets {
		copy(cs.sets, cs.sets[1:])
		cs.sets = cs.sets[:keptConsumerSets-1]
	}
	cs.sets = append(cs.sets, s)
	return s
}

func buildConsumerSet(snap *engine.Snapshot) *consumerSet {
	cfg := snap.Config
	s := &consumerSet{cfg: cfg, byName: map[string]*authConsumer{},
		basic: map[string]basicEntry{}, jwt: map[string]jwtEntry{}, hmac: map[string]hmacEntry{}}
	s.keys.init()
	if cfg == nil {
		return s
	}
	for i := range cfg.Consumers {
		cc := &cfg.Consumers[i]
		// The snapshot's consumer carries the consumer's own policies,
		// which SetConsumer puts in the request's chain.
		c := snap.Consumer(cc.Name)
		if c == nil {
			c = &engine.Consumer{Name: cc.Name, ID: cc.ID, Groups: cc.Groups, Meta: cc.Metadata}
		}
		ac := &authConsumer{c: c, groups: strings.Join(cc.Groups, ",")}
		s.byName[cc.Name] = ac
		cr := &cc.Credentials
		for j := range cr.KeyAuth {
			key := cr.KeyAuth[j].KeyBytes()
			s.keys.add(key, ac.withCredential(keyAuthCredentialID(key)))
		}
		for j := range cr.BasicAuth {
			b := &cr.BasicAuth[j]
			s.basic[b.Username] = basicEntry{consumer: ac.withCredential("basic-auth:" + b.Username), hash: []byte(b.PasswordHash)}
			if c, err := bcrypt.Cost(s.basic[b.Username].hash); err == nil && (s.someHash == nil || c > s.someCost) {
				s.someHash, s.someCost = s.basic[b.Username].hash, c
			}
		}
		for j := range cr.JWT {
			s.jwt[cr.JWT[j].Key] = jwtEntry{consumer: ac.withCredential("jwt-auth:" + cr.JWT[j].Key), cred: &cr.JWT[j]}
		}
		for j := range cr.HMAC {
			h := &cr.HMAC[j]
			s.hmac[h.KeyID] = hmacEntry{consumer: ac.withCredential("hmac-auth:" + h.KeyID), secret: h.SecretBytes()}
		}
	}
	return s
}

// secretIndex finds a secret's owner without a timing side channel on the
// secret: the map is keyed by a hash with a per-process random seed (an
// attacker cannot aim at a bucket), and the candidates are compared in
// constant time.
type secretIndex[T any] struct {
	seed maphash.Seed
	m    map[uint64][]secretEntry[T]
}

type secretEntry[T any] struct {
	secret []byte
	v      T
}

func (s *secretIndex[T]) init() {
	s.seed = maphash.MakeSeed()
	s.m = map[uint64][]secretEntry[T]{}
}

func (s *secretIndex[T]) add(secret string, v T) {
	h := maphash.String(s.seed, secret)
	s.m[h] = append(s.m[h], secretEntry[T]{secret: []byte(secret), v: v})
}

func (s *secretIndex[T]) find(secret []byte) (T, bool) {
	var found T
	ok := 0
	for _, e := range s.m[maphash.Bytes(s.seed, secret)] {
		eq := subtle.ConstantTimeCompare(e.secret, secret)
		if eq == 1 && ok == 0 {
			found, ok = e.v, 1
		}
	}
	return found, ok == 1
}

// authAnonymous is 1 when the request's consumer is an anonymous one: a
// later auth policy may still identify the request.
var authAnonymous = engine.NewIntKey("auth_anonymous")

// authenticated says whether an earlier auth policy of the route already
// identified the request (not as anonymous): this one then has nothing to
// do (Kong's "any of the auth policies" rule).
func authenticated(x *engine.Ctx) bool {
	return x.Consumer() != nil && x.Int(authAnonymous) == 0
}

// accept makes c the request's consumer and tells the upstream who it is.
// The client's own X-Consumer-* fields are gone already: the engine
// removes them on every route of a config with consumers.
func (a *authBase) accept(x *engine.Ctx, c *authConsumer, anonymous bool) {
	x.SetConsumer(c.c)
	engine.Set(x, credentialKey, c)
	if anonymous {
		x.SetInt(authAnonymous, 1)
		a.results.Inc(x, authResultAnonymous)
	} else {
		x.SetInt(authAnonymous, 0)
		a.results.Inc(x, authResultOK)
	}
	// An earlier auth policy's anonymous consumer may have set fields:
	// each is set or removed again.
	setOrRemove(x, "X-Consumer-Name", c.c.Name)
	setOrRemove(x, "X-Consumer-ID", c.c.ID)
	setOrRemove(x, "X-Consumer-Groups", c.groups)
	if anonymous {
		x.SetRequestHeaderString("X-Anonymous-Consumer", "true")
	} else {
		x.RemoveRequestHeader(bAnonymousConsumer)
	}
	for _, m := range a.meta {
		setOrRemove(x, m.header, c.c.Meta[m.key])
	}
}

var bAnonymousConsumer = []byte("X-Anonymous-Consumer")

func setOrRemove(x *engine.Ctx, name, value string) {
	if value == "" {
		x.RemoveRequestHeader(bytesOf(name))
		return
	}
	x.SetRequestHeaderString(name, value)
}

// missing handles a request without a credential: the anonymous consumer,
// or a 401 with the challenge.
func (a *authBase) missing(x *engine.Ctx, reason string) engine.Status {
	if a.anonymous == "" {
		a.results.Inc(x, authResultMissing)
		return a.deny(x, reason) // also after another policy's anonymous consumer
	}
	if x.Consumer() != nil {
		a.results.Inc(x, authResultAnonymous)
		return engine.Continue // anonymous already, from an earlier auth policy
	}
	if c := a.set(x).byName[a.anonymous]; c != nil {
		a.accept(x, c, true)
		return engine.Continue
	}
	// Validation refuses an anonymous that names no consumer; a config
	// built in Go may still hold one.
	a.results.Inc(x, authResultError)
	x.RespondError(500, "anonymous consumer not found")
	return engine.Done
}

// refuse answers a wrong credential: 401 with the challenge; reason never
// holds a secret.
func (a *authBase) refuse(x *engine.Ctx, reason string) engine.Status {
	a.results.Inc(x, authResultInvalid)
	return a.deny(x, reason)
}

func (a *authBase) deny(x *engine.Ctx, reason string) engine.Status {
	x.RespondErrorFields(401, a.challenge, reason)
	return engine.Done
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 32
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// removeQueryArg sends the request upstream without the query arguments
// called name (hide_credentials). An argument with an empty value is sent
// without its '='.
func removeQueryArg(x *engine.Ctx, name string) {
	out := append(x.Scratch(), x.Path()...)
	sep := byte('?')
	x.VisitArgs(func(n, v []byte) bool {
		if string(n) != name {
			out = append(append(out, sep), n...)
			if len(v) > 0 {
				out = append(append(out, '='), v...)
			}
			sep = '&'
		}
		return true
	})
	x.SetUpstreamTarget(out)
	x.ScratchDone(out)
}

// removeCookie sends the request upstream without the cookie called name
// (hide_credentials); the other cookies are kept, in one Cookie field.
func removeCookie(x *engine.Ctx, name string) {
	out := x.Scratch()
	x.VisitHeaders(func(n, v []byte) bool {
		if !equalFold(n, "cookie") {
			return true
		}
		for len(v) > 0 {
			c := v
			if i := bytes.IndexByte(v, ';'); i >= 0 {
				c, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			c = bytes.TrimSpace(c)
			cn := c
			if i := bytes.IndexByte(c, '='); i >= 0 {
				cn = c[:i]
			}
			if len(c) == 0 || string(cn) == name {
				continue
			}
			if len(out) > 0 {
				out = append(out, "; "...)
			}
			out = append(out, c...)
		}
		return true
	})
	if len(out) == 0 {
		x.RemoveRequestHeader(bCookie)
	} else {
		x.SetRequestHeader(bCookie, out)
	}
	x.ScratchDone(out)
}

var bCookie = []byte("Cookie")

// authPriority orders the auth policies like Kong (jwt, key, basic, hmac
// before acl), after cors and ip-restriction, before limits (900).
const (
	ipRestrictionPriority = 1990
	jwtAuthPriority       = 1450
	keyAuthPriority       = 1250
	basicAuthPriority     = 1100
	hmacAuthPriority      = 1030
	aclPriority           = 950
)

// bytesOf views s as bytes without copying; the bytes must not be
// modified (the engine copies what it keeps).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
