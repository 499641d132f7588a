package policies

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/shm"
)

// What limit-count, limit-req and limit-conn share: the key, where the
// state lives (the shared dict or Redis), the identity of the counters,
// the refusal and the fault tolerance.

// limitCommonConfig holds the fields every limit policy has.
type limitCommonConfig struct {
	// Key is what the limit counts by (see requestKey). Default "ip".
	Key string `yaml:"key" desc:"what to count by: ip (default), route, upstream, consumer, credential, header:NAME, arg:NAME, cookie:NAME, a variable (jwt_claim_NAME, consumer_meta_NAME) or a template such as {consumer}:{http_x_user_id}"`
	// KeyMissing is what happens to a request without a value for the key:
	// "ip" counts it by client IP (default), "skip" lets it through
	// uncounted, "reject" refuses it with Status.
	KeyMissing string `yaml:"key_missing" enum:"ip|skip|reject" desc:"a request without a value for the key: ip counts it by client IP (default), skip lets it through uncounted, reject refuses it"`
	// Group shares the counters between every policy with the same group
	// (across routes): they must have the same limits. Default: the
	// policy's own counters, named by its identity (scope and id or name),
	// which survive reloads and edits.
	Group string `yaml:"group" desc:"share the counters with every limit of this kind with the same group, across routes; default: the policy's own, named by its identity"`
	// Policy is where the state lives: "local" (the shared dict Dict, one
	// per gateway: exact on this node), "redis" (the top-level redis
	// section: exact across every gateway sharing it) or, for limit-count
	// only, "redis-lease" (each gateway takes part of the quota from Redis
	// at a time and spends it from Dict). Default local.
	Policy string `yaml:"policy" enum:"local|redis|redis-lease" desc:"where the state lives: local (a shared dict, per gateway; default), redis (shared by every gateway) or, for limit-count, redis-lease (each gateway leases part of the quota from Redis and spends it locally)"`
	// Dict is the shared dict of the local and redis-lease policies,
	// declared in shared_dicts. Default "limits".
	Dict string `yaml:"dict" desc:"shared dict of the local and redis-lease policies, declared in shared_dicts; default limits"`
	// FaultTolerant lets requests through (uncounted, logged and counted)
	// when Redis fails or is slow; false answers 503. Default true.
	FaultTolerant *bool `yaml:"fault_tolerant" desc:"when Redis fails: true lets requests through (logged, counted; default), false answers 503"`
	// Status answered on a refusal, 400..599. Default 429.
	Status int `yaml:"status" desc:"status of a refusal, 400..599; default 429"`
	// Message is the error of the refusal's JSON body. Default "rate limit
	// exceeded" ("too many concurrent requests" for limit-conn).
	Message string `yaml:"message" desc:"the error message of a refusal's JSON body; printable UTF-8 text, no control characters"`
	// Headers sends the X-RateLimit-* fields (and Retry-After on refusals).
	// Default true.
	Headers *bool `yaml:"headers" desc:"send X-RateLimit-Limit/-Remaining/-Reset, and Retry-After on refusals; default true"`
}

// limitBase is the compiled common part of a limit policy.
type limitBase struct {
	kind       string // "limit-count"...: for logs
	key        requestKey
	missing    keyMissing
	status     int
	message    string
	headers    bool
	dict       *shm.Dict     // local and redis-lease policies
	redis      *redis.Client // redis and redis-lease policies
	peer       *engine.Peer  // policy: redis, decided on the worker's loop (limit-count, standalone server)
	loop       *redis.Loop   // peer's, for the client's Stats
	lease      bool          // redis-lease: Redis hands out leases, dict spends them
	failOpen   bool
	identity   string // the counters' name: "group:G" or the policy's identity
	prefix     []byte // local keys: "TAG|identity|"
	redisKeyPf string // redis keys: "sluice:TAG:{identity|"
	redisErrs  *atomic.Int64
	results    *engine.PolicyCounter // sluice_limit_requests_total; nil without an Env
}

// The results of sluice_limit_requests_total, by index.
const (
	limitAllowed  = iota // counted and under the limit
	limitRejected        // over the limit, or refused by key_missing: reject
	limitSkipped         // no value for the key and key_missing: skip
	limitFallback        // the store (Redis, the dict) failed: let through uncounted
	limitError           // Redis failed and fault_tolerant is false: 503
)

// limitResults is the counter family every limit policy publishes.
var limitResults = engine.CounterOpts{
	Name:   "sluice_limit_requests_total",
	Help:   "Decisions of the limit policies (limit-count, limit-req, limit-conn): allowed, rejected (over the limit, or no key with key_missing: reject), skipped (no key, key_missing: skip), fallback (the store failed: let through uncounted), error (Redis failed, fault_tolerant off: 503).",
	Label:  "result",
	Values: []string{"allowed", "rejected", "skipped", "fallback", "error"},
}

// limitPriority runs limits after authentication (which sets the consumer
// a limit may key on) and before everything that costs more.
const limitPriority = 900

func newLimitBase(kind, tag string, spec config.PolicySpec, env *engine.Env, c *limitCommonConfig, defaultMessage string) (*limitBase, error) {
	b := &limitBase{kind: kind, message: c.Message, headers: c.Headers == nil || *c.Headers}
	var err error
	if b.key, err = parseRequestKey(c.Key); err != nil {
		return nil, config.FieldError(spec, "key", err.Error())
	}
	if b.missing, err = parseKeyMissing(c.KeyMissing); err != nil {
		return nil, config.FieldError(spec, "key_missing", err.Error())
	}
	if err := checkLimitMessage(c.Message); err != "" {
		return nil, config.FieldError(spec, "message", err)
	}
	if b.message == "" {
		b.message = defaultMessage
	}
	b.status = c.Status
	if b.status == 0 {
		b.status = 429
	}
	if b.status < 400 || b.status > 599 {
		return nil, config.FieldError(spec, "status", fmt.Sprintf("must be between 400 and 599, got %d", c.Status))
	}
	if env != nil {
		if b.results, err = env.Counter(limitResults); err != nil {
			return nil, err
		}
	} else {
		env = &engine.Env{Scope: "global", ID: kind}
	}
	switch {
	case c.Group != "":
		b.identity = "group:" + c.Group
	default:
		b.identity = env.Identity()
	}
	switch c.Policy {
	case "", "local":
		if b.dict, err = limitDict(spec, env, c.Dict, ""); err != nil {
			return nil, err
		}
	case "redis":
		if c.Dict != "" {
			return nil, config.FieldError(spec, "dict", "is for policy: local; policy: redis keeps its state in Redis")
		}
		if env.Redis == nil {
			return nil, config.FieldError(spec, "policy", "redis needs the top-level redis section")
		}
		b.redis = env.Redis
	case "redis-lease":
		if kind != "limit-count" {
			return nil, config.FieldError(spec, "policy", "redis-lease is for limit-count; "+kind+` takes "local" or "redis"`)
		}
		if env.Redis == nil {
			return nil, config.FieldError(spec, "policy", "redis-lease needs the top-level redis section")
		}
		if b.dict, err = limitDict(spec, env, c.Dict, " (policy: redis-lease spends its leases there)"); err != nil {
			return nil, err
		}
		b.redis, b.lease = env.Redis, true
	default:
		if kind == "limit-count" {
			return nil, config.FieldError(spec, "policy", fmt.Sprintf(`must be "local", "redis" or "redis-lease", got %q`, c.Policy))
		}
		return nil, config.FieldError(spec, "policy", fmt.Sprintf(`must be "local" or "redis", got %q`, c.Policy))
	}
	if c.FaultTolerant != nil && b.redis == nil {
		return nil, config.FieldError(spec, "fault_tolerant", "is for policy: redis and redis-lease")
	}
	b.failOpen = c.FaultTolerant == nil || *c.FaultTolerant
	// Every limit decides on the worker's loop when the server allows
	// (standalone, no TLS).
	if b.redis != nil && !b.lease && env.RedisPeer != nil {
		b.peer, b.loop = env.RedisPeer, b.redis.Loop()
	}
	b.prefix = []byte(tag + "|" + b.identity + "|")
	if b.lease {
		// Not the local policy's counters: a limit switched from local to
		// redis-lease must not take its old counts for leases.
		b.prefix = []byte("ll|" + b.identity + "|")
	}
	// One hash tag per counter key: a script's keys (a window and the one
	// before it) land in one cluster slot.
	b.redisKeyPf = "sluice:" + tag + ":{" + b.identity + "|"
	b.redisErrs = redisFailures(b.identity)
	return b, nil
}

// checkLimitMessage says why message cannot be the error of a refusal
// ("" when it can). The engine writes it into the JSON body with
// strconv.AppendQuote, which keeps printable UTF-8 as it is and escapes
// only '"' and '\\' among them — valid JSON — but writes control
// characters, bytes that are not UTF-8 and some unprintable runes as Go
// escapes (\x01, \a, \U0001f000) that JSON does not have. Refusing all but
// printable UTF-8 keeps the body valid JSON for every accepted message.
func checkLimitMessage(message string) string {
	for i, r := range message {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(message[i:], "\uFFFD"):
			return fmt.Sprintf("must be UTF-8 text, got the byte %#x at %d", message[i], i)
		case !strconv.IsPrint(r):
			return fmt.Sprintf("must be printable text, got the control or unprintable character %U at byte %d", r, i)
		}
	}
	return ""
}

// limitDict is the shared dict name (default "limits") of a limit, or
// the error saying it is not declared, with why it is needed.
func limitDict(spec config.PolicySpec, env *engine.Env, name, why string) (*shm.Dict, error) {
	if name == "" {
		name = "limits"
	}
	var d *shm.Dict
	if env.Dicts != nil {
		d = env.Dicts.Dict(name)
	}
	if d == nil {
		return nil, config.FieldError(spec, "dict", fmt.Sprintf("shared dict %q is not declared in shared_dicts%s", name, why))
	}
	return d, nil
}

// refuse answers the refusal with extra fields (each line ending in
// CRLF), built in x.Scratch() or nil.
func (b *limitBase) refuse(x *engine.Ctx, fields []byte) engine.Status {
	b.results.Inc(x, limitRejected)
	x.RespondErrorFields(b.status, fields, b.message)
	if fields != nil {
		x.ScratchDone(fields)
	}
	return engine.Done
}

// counterKey builds the request's local counter key (prefix and key) in
// x.Scratch(); the caller hands it back with ScratchDone. When ok is
// false the request is decided by key_missing: st is Continue (skip) or
// Done (refused).
func (b *limitBase) counterKey(x *engine.Ctx) (buf []byte, st engine.Status, ok bool) {
	buf, out := b.key.appendKey(append(x.Scratch(), b.prefix...), x, b.missing)
	switch out {
	case keySkipped:
		x.ScratchDone(buf)
		b.results.Inc(x, limitSkipped)
		return nil, engine.Continue, false
	case keyRefused:
		x.ScratchDone(buf)
		return nil, b.refuseKeyMissing(x), false
	}
	return buf, engine.Continue, true
}

// redisKey turns a local counter key from counterKey into the Redis one
// (one hash tag around identity and key) and hands buf back.
func (b *limitBase) redisKey(x *engine.Ctx, buf []byte) string {
	k := b.redisKeyPf + string(buf[len(b.prefix):]) + "}"
	x.ScratchDone(buf)
	return k
}

// offloadDecision decides a request in Redis off the loop and applies the
// decision on the worker; a failed call goes to redisFailed.
func offloadDecision[D any](b *limitBase, x *engine.Ctx, decide func(context.Context) (D, error), apply func(*engine.Ctx, D) engine.Status) engine.Status {
	return x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
		d, err := decide(ctx)
		return func(x *engine.Ctx) engine.Status {
			if err != nil {
				return b.redisFailed(x, err)
			}
			return apply(x, d)
		}
	})
}

// refuseKeyMissing answers a request refused by key_missing: reject.
func (b *limitBase) refuseKeyMissing(x *engine.Ctx) engine.Status {
	b.results.Inc(x, limitRejected)
	x.RespondError(b.status, "no value for the rate-limit key "+b.key.String())
	return engine.Done
}

// redisFailed handles a failed Redis call: fail open (Continue, counted
// and logged at most once per interval) or a 503 saying why.
func (b *limitBase) redisFailed(x *engine.Ctx, err error) engine.Status {
	n := b.redisErrs.Add(1)
	logRedisFailure(b.kind, b.identity, err, n)
	if b.failOpen {
		b.results.Inc(x, limitFallback)
		return engine.Continue
	}
	b.results.Inc(x, limitError)
	msg := "rate limit store unavailable: redis failed"
	switch {
	case errors.Is(err, redis.ErrTimeout), errors.Is(err, engine.ErrPeerTimeout):
		msg = "rate limit store unavailable: redis timed out"
	case errors.Is(err, redis.ErrUnavailable), errors.Is(err, redis.ErrClosed),
		errors.Is(err, engine.ErrPeerUnavailable), errors.Is(err, engine.ErrPeerClosed), errors.Is(err, engine.ErrPeerBusy):
		msg = "rate limit store unavailable: redis unreachable"
	}
	x.RespondError(503, msg)
	return engine.Done
}

// Redis failures are counted per limit identity (the counters survive
// reloads, like the limits' own state) and logged at most once per
// redisLogInterval per identity, so that Redis being down does not flood
// the log. RedisFailures reads the counts.
var limitRedisFailures struct {
	mu   sync.Mutex
	byID map[string]*atomic.Int64
	last sync.Map // identity → *atomic.Int64, unix nanoseconds of the last log line
}

const redisLogInterval = 10 * time.Second

func redisFailures(identity string) *atomic.Int64 {
	f := &limitRedisFailures
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byID == nil {
		f.byID = make(map[string]*atomic.Int64)
	}
	n := f.byID[identity]
	if n == nil {
		n = new(atomic.Int64)
		f.byID[identity] = n
	}
	return n
}

// LimitRedisFailures returns, by limit identity, how many decisions of
// limit policies with policy: redis failed (Redis down, slow or refusing)
// since the process started: let through when fault_tolerant, else 503.
// Safe for concurrent use.
func LimitRedisFailures() map[string]int64 {
	f := &limitRedisFailures
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int64, len(f.byID))
	for id, n := range f.byID {
		m[id] = n.Load()
	}
	return m
}

func logRedisFailure(kind, identity string, err error, total int64) {
	now := time.Now().UnixNano()
	v, _ := limitRedisFailures.last.LoadOrStore(identity, new(atomic.Int64))
	last := v.(*atomic.Int64)
	prev := last.Load()
	if now-prev < int64(redisLogInterval) || !last.CompareAndSwap(prev, now) {
		return
	}
	log.Printf("sluice: %s %s: redis: %v (%d failures so far; logged at most every %v)", kind, identity, err, total, redisLogInterval)
}

// appendRetryAfter appends a Retry-After field of d, in whole seconds,
// rounded up (at least 1).
func appendRetryAfter(dst []byte, d int64) []byte {
	dst = append(dst, "Retry-After: "...)
	dst = strconv.AppendInt(dst, ceilSeconds(d), 10)
	return append(dst, "\r\n"...)
}

// ceilSeconds rounds nanoseconds up to whole seconds, at least 1.
func ceilSeconds(d int64) int64 {
	s := (d + int64(time.Second) - 1) / int64(time.Second)
	return max(s, 1)
}

// appendRateLimitFields appends the X-RateLimit-* fields.
func appendRateLimitFields(dst, limit []byte, remaining, resetNanos int64) []byte {
	dst = append(dst, "X-RateLimit-Limit: "...)
	dst = append(dst, limit...)
	dst = append(dst, "\r\nX-RateLimit-Remaining: "...)
	dst = strconv.AppendInt(dst, max(remaining, 0), 10)
	dst = append(dst, "\r\nX-RateLimit-Reset: "...)
	dst = strconv.AppendInt(dst, ceilSeconds(resetNanos), 10)
	return append(dst, "\r\n"...)
}

// setRateLimitHeaders sets the X-RateLimit-* fields of the response being
// filtered.
func setRateLimitHeaders(x *engine.Ctx, limit []byte, remaining, resetNanos int64) {
	x.SetResponseHeader(bRateLimitLimit, limit)
	b := strconv.AppendInt(x.Scratch(), max(remaining, 0), 10)
	x.SetResponseHeader(bRateLimitRemaining, b)
	b = strconv.AppendInt(b[:0], ceilSeconds(resetNanos), 10)
	x.SetResponseHeader(bRateLimitReset, b)
	x.ScratchDone(b)
}

var (
	bRateLimitLimit     = []byte("X-RateLimit-Limit")
	bRateLimitRemaining = []byte("X-RateLimit-Remaining")
	bRateLimitReset     = []byte("X-RateLimit-Reset")
)

// keyLocks serialize the read-modify-write of a limit-req bucket in the
// shared dict, which offers atomic counters (Incr) but no compare-and-swap:
// a bucket's state is one number read and written under the stripe of its
// key's hash. Package-level, so that the policies of two config versions
// sharing a bucket during a reload use the same stripe.
var keyLocks [256]struct {
	sync.Mutex
	_ [56]byte // one stripe per cache line
}

func lockKey(key []byte) *sync.Mutex {
	return &keyLocks[xxhash.Sum64(key)&uint64(len(keyLocks)-1)].Mutex
}
