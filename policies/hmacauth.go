package policies

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/shm"
)

// hmacAuthConfig is the `hmac-auth` policy's config: HTTP request
// signatures (draft-cavage-http-signatures, the "request signature" of
// API gateways) with an HMAC secret of a consumer's hmac credentials.
type hmacAuthConfig struct {
	// Algorithms accepted: hmac-sha256, hmac-sha512. Default both.
	Algorithms []string `yaml:"algorithms" desc:"accepted algorithms: hmac-sha256, hmac-sha512; default both"`
	// EnforceHeaders must all be in the signed headers list. Default
	// ["@request-target", "date"]; "date" (or "x-date") is always required.
	EnforceHeaders []string `yaml:"enforce_headers" desc:"names every signature must cover; default [@request-target, date]; date (or x-date) is always required"`
	// ClockSkew is how far Date (or X-Date) may be from the gateway's
	// clock. Default 300s.
	ClockSkew config.Duration `yaml:"clock_skew" desc:"how far Date may be from the gateway's clock; default 300s"`
	// ValidateBody requires a Digest field (SHA-256=base64) signed and
	// matching the body, for every request. Default false: checked when
	// digest is among the signed headers.
	ValidateBody bool `yaml:"validate_body" desc:"require a signed Digest matching the body; default false (checked when digest is signed)"`
	// MaxBody bounds the body read to check a digest. Default 1MiB.
	MaxBody config.Size `yaml:"max_body" desc:"largest body read to check a digest; default 1MiB"`
	// Dict is the shared dict remembering signatures for the replay check
	// (each for twice the clock skew). Default "auth"; it must be declared
	// in shared_dicts. A full dict refuses requests (503) rather than
	// forgetting signatures.
	Dict string `yaml:"dict" desc:"shared dict remembering signatures against replay; default auth; must be declared"`
	// ReplayStore is where seen signatures are remembered: "local" (the
	// shared dict Dict: a replay is refused by the gateway that saw the
	// signature) or "redis" (the top-level redis section as well: a
	// replay is refused by every gateway sharing it). Default local.
	ReplayStore string `yaml:"replay_store" enum:"local|redis" desc:"where seen signatures are remembered: local (the shared dict, this gateway; default) or redis (also the top-level redis section: every gateway sharing it)"`
	// FaultTolerant, with replay_store: redis, accepts a request whose
	// replay check Redis could not answer (down, refusing, or slower than
	// its read_timeout; logged and counted); false, the default, answers
	// 503: a replay check that lets requests through when its store fails
	// is one an attacker can switch off.
	FaultTolerant *bool `yaml:"fault_tolerant" desc:"replay_store: redis: when Redis fails, true accepts the request unchecked across gateways (logged, counted), false answers 503; default false"`

	Auth authConfig `yaml:",inline"`
}

// hmacAuth checks an Authorization: Signature. The signing string is the
// signed headers' "name: value" lines joined by "\n", "@request-target"
// (or "(request-target)") standing for "method target" in lower-case
// method. A signature is accepted once: a replay within the skew window
// is refused (neither Kong nor APISIX has this).
type hmacAuth struct {
	authBase
	sha256, sha512 bool
	enforce        []string
	skew           time.Duration
	validateBody   bool
	maxBody        int64
	dict           *shm.Dict
	macs           perWorker[macCache]

	// With replay_store: redis (nil otherwise): the fleet-wide replay
	// check, its fault tolerance and its failure counters.
	redis    *redis.Client
	failOpen bool
	identity string
	failures *replayFailures
	failed   *engine.PolicyCounter // sluice_hmac_replay_store_failures_total
}

func init() { RegisterConfig("hmac-auth", hmacAuthConfig{}, newHMACAuth) }

const (
	defaultHMACSkew    = 300 * time.Second
	defaultHMACMaxBody = 1 << 20
)

func newHMACAuth(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg hmacAuthConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &hmacAuth{skew: cfg.ClockSkew.Std(), validateBody: cfg.ValidateBody, maxBody: int64(cfg.MaxBody)}
	if len(cfg.Algorithms) == 0 {
		p.sha256, p.sha512 = true, true
	}
	for i, a := range cfg.Algorithms {
		switch a {
		case "hmac-sha256":
			p.sha256 = true
		case "hmac-sha512":
			p.sha512 = true
		default:
			return nil, config.FieldError(spec, "algorithms["+itoa(i)+"]", "must be hmac-sha256 or hmac-sha512, got "+quote(a))
		}
	}
	p.enforce = cfg.EnforceHeaders
	if p.enforce == nil {
		p.enforce = []string{"@request-target", "date"}
	}
	for i, h := range p.enforce {
		// A name no signature can list (empty, a space in it) refused
		// every request with 401.
		h = strings.ToLower(h)
		if h == "(request-target)" {
			h = "@request-target" // checkCovered takes either spelling in a signature
		}
		if h != "@request-target" && !http1.ValidFieldName(h) {
			return nil, config.FieldError(spec, "enforce_headers["+itoa(i)+"]", "must be a field name or @request-target (no signature could list "+quote(h)+")")
		}
		p.enforce[i] = h
	}
	if p.skew <= 0 {
		p.skew = defaultHMACSkew
	}
	if p.maxBody <= 0 {
		p.maxBody = defaultHMACMaxBody
	}
	if cfg.Dict == "" {
		cfg.Dict = "auth"
	}
	if env != nil && env.Dicts != nil {
		p.dict = env.Dicts.Dict(cfg.Dict)
	}
	if p.dict == nil {
		return nil, config.FieldError(spec, "dict", fmt.Sprintf("shared dict %q is not declared in shared_dicts (it remembers signatures against replay)", cfg.Dict))
	}
	switch cfg.ReplayStore {
	case "", "local":
	case "redis":
		if env == nil || env.Redis == nil {
			return nil, config.FieldError(spec, "replay_store", "redis needs the top-level redis section")
		}
		p.redis = env.Redis
		p.identity = env.Identity()
		p.failures = replayFailuresOf(p.identity)
		var err error
		if p.failed, err = env.Counter(hmacReplayStoreFailures); err != nil {
			return nil, err
		}
	default:
		return nil, config.FieldError(spec, "replay_store", fmt.Sprintf(`must be "local" or "redis", got %q`, cfg.ReplayStore))
	}
	if cfg.FaultTolerant != nil && p.redis == nil {
		return nil, config.FieldError(spec, "fault_tolerant", "is for replay_store: redis")
	}
	p.failOpen = cfg.FaultTolerant != nil && *cfg.FaultTolerant
	if err := p.init(spec, env, cfg.Auth, "Signature"); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *hmacAuth) Priority() int { return hmacAuthPriority }

func (p *hmacAuth) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

// signatureParams are the parameters of a Signature authorization, views
// into the request's field.
type signatureParams struct {
	keyID, algorithm, headers, signature []byte
}

// parseSignature reads keyId="..",algorithm="..",headers="..",signature="..".
func parseSignature(v []byte) (sp signatureParams, ok bool) {
	for len(v) > 0 {
		v = bytes.TrimLeft(v, " \t,")
		eq := bytes.IndexByte(v, '=')
		if eq <= 0 {
			return sp, len(bytes.TrimSpace(v)) == 0 && sp.keyID != nil && sp.signature != nil
		}
		name := bytes.TrimSpace(v[:eq])
		v = v[eq+1:]
		var val []byte
		if len(v) > 0 && v[0] == '"' {
			end := bytes.IndexByte(v[1:], '"')
			if end < 0 {
				return sp, false
			}
			val, v = v[1:1+end], v[2+end:]
		} else {
			end := bytes.IndexByte(v, ',')
			if end < 0 {
				end = len(v)
			}
			val, v = bytes.TrimSpace(v[:end]), v[end:]
		}
		switch string(name) {
		case "keyId":
			sp.keyID = val
		case "algorithm":
			sp.algorithm = val
		case "headers":
			sp.headers = val
		case "signature":
			sp.signature = val
		}
	}
	return sp, sp.keyID != nil && sp.signature != nil
}

func (p *hmacAuth) access(x *engine.Ctx) engine.Status {
	if p.anonymous != "" && authenticated(x) {
		return engine.Continue
	}
	v, ok := x.Header("Authorization")
	if !ok || len(v) < 10 || !equalFold(v[:10], "signature ") {
		return p.missing(x, "missing signature")
	}
	sp, ok := parseSignature(v[10:])
	if !ok || len(sp.keyID) == 0 {
		return p.refuse(x, "malformed signature")
	}
	var alg macAlg
	switch {
	case string(sp.algorithm) == "hmac-sha256" && p.sha256:
		alg = macSHA256
	case string(sp.algorithm) == "hmac-sha512" && p.sha512:
		alg = macSHA512
	default:
		return p.refuse(x, "signature algorithm not accepted")
	}
	headers := sp.headers
	if len(headers) == 0 {
		headers = bDateOnly
	}
	if reason := p.checkCovered(headers); reason != "" {
		return p.refuse(x, reason)
	}
	set := p.set(x)
	entry, ok := set.hmac[string(sp.keyID)]
	if !ok {
		return p.refuse(x, "invalid signature")
	}
	if reason := p.checkDate(x); reason != "" {
		return p.refuse(x, reason)
	}
	// The signing string, built in the context's scratch buffer.
	s := x.Scratch()
	s, reason := appendSigningString(s, x, headers)
	if reason != "" {
		x.ScratchDone(s)
		return p.refuse(x, reason)
	}
	// Decode panics on a buffer too small for what it decodes: the length
	// is checked first. A padded SHA-512 signature has DecodedLen 66.
	var want [sha512.Size + 2]byte
	if base64.StdEncoding.DecodedLen(len(sp.signature)) > len(want) {
		x.ScratchDone(s)
		return p.refuse(x, "invalid signature")
	}
	n, err := base64.StdEncoding.Decode(want[:], sp.signature)
	if err != nil {
		x.ScratchDone(s)
		return p.refuse(x, "invalid signature")
	}
	mac := p.macs.get(x.WorkerID()).get(entry.secret, alg)
	mac.Reset()
	mac.Write(s)
	var sum [sha512.Size]byte
	got := mac.Sum(sum[:0])
	x.ScratchDone(s)
	if !hmac.Equal(got, want[:n]) {
		return p.refuse(x, "invalid signature")
	}
	if p.validateBody || containsToken(headers, "digest") {
		if !containsToken(headers, "digest") {
			return p.refuse(x, "digest must be signed")
		}
		body, st := x.ReadBody(p.maxBody)
		if st != engine.Continue {
			return st // Suspend: called again with the body; Done: 413
		}
		if reason := checkDigest(x, body); reason != "" {
			return p.refuse(x, reason)
		}
	}
	// Last: a replayed signature is refused; the key is only written once
	// every other check passed. The dict first, always: a replay to this
	// gateway never costs a Redis round trip.
	key := append(x.Scratch(), hmacReplayPrefix...)
	key = append(append(append(key, sp.keyID...), ':'), sp.signature...)
	err = p.dict.SafeAdd(key, shm.IntValue(1), 2*p.skew)
	switch {
	case errors.Is(err, shm.ErrExists):
		x.ScratchDone(key)
		return p.refuse(x, "replayed signature")
	case p.redis != nil:
		// A dict that could not hold the key (err != nil) is no reason to
		// refuse: Redis decides for the whole fleet.
		return p.checkReplayRedis(x, entry.consumer, key, err == nil)
	case err != nil:
		x.ScratchDone(key)
		p.results.Inc(x, authResultError)
		x.RespondError(503, "replay check unavailable")
		return engine.Done
	}
	x.ScratchDone(key)
	return p.acceptSigned(x, entry.consumer)
}

// acceptSigned identifies the request as c's once its signature passed
// every check.
func (p *hmacAuth) acceptSigned(x *engine.Ctx, c *authConsumer) engine.Status {
	p.accept(x, c, false)
	if p.hide {
		x.RemoveRequestHeader(bAuthorization)
	}
	return engine.Continue
}

var bDateOnly = []byte("date")

// checkCovered says what the signed headers miss: every enforced name, and
// a date.
func (p *hmacAuth) checkCovered(headers []byte) string {
	if !containsToken(headers, "date") && !containsToken(headers, "x-date") {
		return "date must be signed"
	}
	for _, h := range p.enforce {
		if h == "date" && containsToken(headers, "x-date") {
			continue
		}
		if !containsToken(headers, h) && !(h == "@request-target" && containsToken(headers, "(request-target)")) {
			return "signature must cover " + h
		}
	}
	return ""
}

// containsToken says whether the space-separated list holds name (case
// insensitive).
func containsToken(list []byte, lowerName string) bool {
	for len(list) > 0 {
		tok := list
		if i := bytes.IndexByte(list, ' '); i >= 0 {
			tok, list = list[:i], list[i+1:]
		} else {
			list = nil
		}
		if equalFold(tok, lowerName) {
			return true
		}
	}
	return false
}

// checkDate reads X-Date, else Date, and checks it against the skew.
func (p *hmacAuth) checkDate(x *engine.Ctx) string {
	d, ok := x.Header("X-Date")
	if !ok {
		if d, ok = x.Header("Date"); !ok {
			return "missing date"
		}
	}
	t, err := http.ParseTime(unsafe.String(unsafe.SliceData(d), len(d))) // not kept
	if err != nil {
		return "invalid date"
	}
	diff := time.Duration(x.Now() - t.UnixNano())
	if diff > p.skew || -diff > p.skew {
		return "date outside the clock skew"
	}
	return ""
}

// appendSigningString appends the lines of the signed headers; a signed
// header the request lacks is a reason to refuse.
func appendSigningString(s []byte, x *engine.Ctx, headers []byte) ([]byte, string) {
	first := true
	for len(headers) > 0 {
		name := headers
		if i := bytes.IndexByte(headers, ' '); i >= 0 {
			name, headers = headers[:i], headers[i+1:]
		} else {
			headers = nil
		}
		if len(name) == 0 {
			continue
		}
		if !first {
			s = append(s, '\n')
		}
		first = false
		for _, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 32
			}
			s = append(s, c)
		}
		s = append(s, ": "...)
		if equalFold(name, "@request-target") || equalFold(name, "(request-target)") {
			for _, c := range x.MethodName() {
				if 'A' <= c && c <= 'Z' {
					c += 32
				}
				s = append(s, c)
			}
			s = append(append(s, ' '), x.Target()...)
			continue
		}
		found := false
		x.VisitHeaders(func(n, v []byte) bool {
			if bytes.EqualFold(n, name) {
				if found {
					s = append(s, ", "...)
				}
				s = append(s, v...)
				found = true
			}
			return true
		})
		if !found {
			return s, "signed header missing"
		}
	}
	return s, ""
}

// checkDigest compares Digest: SHA-256=<base64> with the body's.
func checkDigest(x *engine.Ctx, body []byte) string {
	d, ok := x.Header("Digest")
	if !ok {
		return "missing digest"
	}
	for len(d) > 0 {
		item := d
		if i := bytes.IndexByte(d, ','); i >= 0 {
			item, d = d[:i], d[i+1:]
		} else {
			d = nil
		}
		item = bytes.TrimSpace(item)
		if len(item) < 8 || !equalFold(item[:8], "sha-256=") {
			continue
		}
		var want [sha256.Size + 2]byte
		if base64.StdEncoding.DecodedLen(len(item)-8) > len(want) {
			return "digest does not match the body" // Decode would overrun want, and panic
		}
		n, err := base64.StdEncoding.Decode(want[:], item[8:])
		sum := sha256.Sum256(body)
		if err != nil || !hmac.Equal(sum[:], want[:n]) {
			return "digest does not match the body"
		}
		return ""
	}
	return "digest must be SHA-256"
}

// The fleet-wide replay check (replay_store: redis). The first gateway
// whose SET NX of the signature's key succeeds accepts the request; every
// other gateway (and this one, later) finds the key and refuses it, for
// twice the clock skew: a signature is valid while its date is within
// the skew of the clock, either way, so at most that long after it was
// first seen.

// hmacReplayPrefix starts the dict keys of seen signatures, followed by
// "keyId:signature".
const hmacReplayPrefix = "hmac:"

// hmacReplayRedisPrefix starts the Redis keys of seen signatures,
// followed by the unpadded base64url SHA-256 of "keyId:signature": the
// key length does not depend on the client, and Redis holds neither the
// signature nor, of course, the secret.
const hmacReplayRedisPrefix = "sluice:hmac:"

// checkReplayRedis records the signature in Redis off the loop and
// decides the request on the worker. localKey is the dict key in
// x.Scratch() (handed back here); remembered says whether the dict holds
// it, to forget it again when the request is refused for want of Redis.
func (p *hmacAuth) checkReplayRedis(x *engine.Ctx, c *authConsumer, localKey []byte, remembered bool) engine.Status {
	sum := sha256.Sum256(localKey[len(hmacReplayPrefix):])
	redisKey := hmacReplayRedisPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
	var local string
	if remembered {
		local = string(localKey)
	}
	x.ScratchDone(localKey)
	ttl := 2 * p.skew
	st := x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
		first, err := p.redis.SetNXPX(ctx, redisKey, hmacReplayValue, ttl)
		return func(x *engine.Ctx) engine.Status {
			switch {
			case err != nil:
				return p.replayStoreFailed(x, c, local, err)
			case !first:
				return p.refuse(x, "replayed signature")
			}
			return p.acceptSigned(x, c)
		}
	})
	if st == engine.Done && local != "" {
		p.dict.Delete([]byte(local)) // no goroutine: the client got a 503 and may send it again
	}
	return st
}

var hmacReplayValue = []byte("1")

// replayStoreFailed decides a request whose Redis replay check failed:
// accepted when fault tolerant, else 503 saying why, after forgetting the
// signature in the dict so that the client may send the same request
// again once Redis answers. Either way the failure is counted and logged
// at most once per hmacReplayLogInterval.
func (p *hmacAuth) replayStoreFailed(x *engine.Ctx, c *authConsumer, local string, err error) engine.Status {
	p.failures.record(p.identity, err)
	if p.failOpen {
		p.failed.Inc(x, replayFailedAccepted)
		return p.acceptSigned(x, c)
	}
	p.failed.Inc(x, replayFailedRefused)
	if local != "" {
		p.dict.Delete([]byte(local))
	}
	p.results.Inc(x, authResultError)
	msg := "replay check unavailable: redis failed"
	switch {
	case errors.Is(err, redis.ErrTimeout):
		msg = "replay check unavailable: redis timed out"
	case errors.Is(err, redis.ErrUnavailable), errors.Is(err, redis.ErrClosed):
		msg = "replay check unavailable: redis unreachable"
	}
	x.RespondError(503, msg)
	return engine.Done
}

// hmacReplayStoreFailures counts, on /metrics, the requests whose Redis
// replay check failed, by what became of them.
var hmacReplayStoreFailures = engine.CounterOpts{
	Name:   "sluice_hmac_replay_store_failures_total",
	Help:   "Requests of hmac-auth with replay_store: redis whose replay check Redis could not answer (down, refusing or slow): accepted (fault_tolerant: true; checked by this gateway's dict only) or refused (503).",
	Label:  "result",
	Values: []string{"accepted", "refused"},
}

// The values of hmacReplayStoreFailures, by index.
const (
	replayFailedAccepted = iota
	replayFailedRefused
)

// hmacReplayLogInterval spaces the log lines of one policy's failures, so
// that Redis being down does not flood the log (the limits' interval).
const hmacReplayLogInterval = 10 * time.Second

// replayFailures counts the failed Redis replay checks of one hmac-auth
// identity (kept across reloads) and when one was last logged.
type replayFailures struct {
	n       atomic.Int64
	lastLog atomic.Int64 // unix nanoseconds
}

var hmacReplayFailures sync.Map // identity → *replayFailures

func replayFailuresOf(identity string) *replayFailures {
	f, _ := hmacReplayFailures.LoadOrStore(identity, new(replayFailures))
	return f.(*replayFailures)
}

func (f *replayFailures) record(identity string, err error) {
	n := f.n.Add(1)
	now := time.Now().UnixNano()
	last := f.lastLog.Load()
	if now-last < int64(hmacReplayLogInterval) || !f.lastLog.CompareAndSwap(last, now) {
		return
	}
	log.Printf("sluice: hmac-auth %s: replay check: redis: %v (%d failures so far; logged at most every %v)", identity, err, n, hmacReplayLogInterval)
}

// HMACReplayRedisFailures returns, by policy identity, how many replay
// checks of hmac-auth policies with replay_store: redis Redis could not
// answer since the process started (accepted when fault_tolerant, else
// answered 503). Safe for concurrent use.
func HMACReplayRedisFailures() map[string]int64 {
	m := map[string]int64{}
	hmacReplayFailures.Range(func(k, v any) bool {
		m[k.(string)] = v.(*replayFailures).n.Load()
		return true
	})
	return m
}

// macCache keeps one HMAC state per secret and algorithm for its worker:
// made once, Reset for each request.
type macCache struct {
	m map[macKey]hash.Hash
}

type macKey struct {
	secret *byte
	alg    macAlg
}

type macAlg uint8

const (
	macSHA256 macAlg = iota
	macSHA512
)

func (c *macCache) get(secret []byte, alg macAlg) hash.Hash {
	k := macKey{secret: &secret[0], alg: alg}
	if h, ok := c.m[k]; ok {
		return h
	}
	if c.m == nil {
		c.m = make(map[macKey]hash.Hash)
	}
	newHash := sha256.New
	if alg == macSHA512 {
		newHash = sha512.New
	}
	h := hmac.New(newHash, secret)
	c.m[k] = h
	return h
}
