package policies

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
)

// limitConnConfig is the `limit-conn` policy's config: at most Max
// requests in flight per key (nginx's limit_conn, APISIX's limit-conn).
type limitConnConfig struct {
	// Max requests of one key in flight at once, > 0. Required.
	Max int64 `yaml:"max" desc:"requests of one key in flight at once, > 0; required"`
	// SlotTTL bounds how long a slot taken in Redis counts: a gateway that
	// dies holding slots gives them back after it. A request longer than
	// it stops counting. Redis only; default 1m.
	SlotTTL config.Duration `yaml:"slot_ttl" desc:"policy: redis: how long a slot counts at most, so that a gateway dying with slots gives them back; default 1m"`

	Common limitCommonConfig `yaml:",inline"`
}

// limitConn counts the requests of a key in flight. A slot is taken in
// the access phase and given back in the log phase, which runs once for
// every request that got there, however it ended: answered, refused by a
// later policy, an upstream error or reset, a timeout, the client gone.
//
// Locally the count is an atomic counter in the shared dict: exact across
// workers. Its counter never expires (an expiring counter would forget
// slots in use); the dict's LRU eviction removes idle ones, and a counter
// evicted while in use — a dict far too small — restarts from zero,
// admitting more for a while, never fewer.
//
// In Redis each slot is a member of a sorted set, scored with the time its
// lease ends (slot_ttl): one script drops ended leases, counts and adds
// the request atomically, exact across gateways; the log phase removes the
// member. A gateway that crashes holding slots loses them at the end of
// their lease, not never.
type limitConn struct {
	*limitBase
	max     int64
	slotTTL int64

	local engine.Key[*connSlot]  // the slot held locally
	lease engine.Key[*connLease] // the slot held in Redis
	slots perWorker[[]*connSlot] // free local slots, per worker
}

// connSlot records a local slot's counter key until the log phase.
type connSlot struct{ key []byte }

// connLease is a slot in Redis, shared by the request and the goroutine
// acquiring it: whichever of the log phase and the acquisition finishes
// second gives it back.
type connLease struct {
	key    string
	member string
	state  atomic.Int32
}

const (
	leasePending int32 = iota // the acquisition is in flight
	leaseHeld                 // acquired, and the request still runs
	leaseDone                 // released, refused, failed, or the request ended first
)

func init() { RegisterConfig("limit-conn", limitConnConfig{}, newLimitConn) }

// Lease members are unique across gateways and restarts: a random prefix
// per process and a counter (a request id could be a client's, repeated).
var (
	leasePrefix = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	leaseSeq atomic.Uint64
)

func newLeaseMember() string { return leasePrefix + strconv.FormatUint(leaseSeq.Add(1), 36) }

func newLimitConn(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg limitConnConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.Max <= 0 {
		return nil, config.FieldError(spec, "max", fmt.Sprintf("must be > 0, got %d", cfg.Max))
	}
	if cfg.SlotTTL < 0 {
		return nil, config.FieldError(spec, "slot_ttl", "must be a positive duration")
	}
	if cfg.SlotTTL != 0 && cfg.Common.Policy != "redis" {
		return nil, config.FieldError(spec, "slot_ttl", "is for policy: redis (local slots are given back by the log phase)")
	}
	if cfg.SlotTTL == 0 {
		cfg.SlotTTL = config.Duration(time.Minute)
	}
	base, err := newLimitBase("limit-conn", "ln", spec, env, &cfg.Common, "too many concurrent requests")
	if err != nil {
		return nil, err
	}
	return &limitConn{limitBase: base, max: cfg.Max, slotTTL: int64(cfg.SlotTTL)}, nil
}

func (p *limitConn) Priority() int { return limitPriority }

func (p *limitConn) Install(c *engine.ChainBuilder) error {
	p.local = engine.NewPrivateKey[*connSlot](c)
	p.lease = engine.NewPrivateKey[*connLease](c)
	c.Add(engine.PhaseAccess, p.access)
	c.Add(engine.PhaseLog, p.release)
	return nil
}

func (p *limitConn) access(x *engine.Ctx) engine.Status {
	buf, st, ok := p.counterKey(x)
	if !ok {
		return st
	}
	if p.redis != nil {
		l := &connLease{key: p.redisKey(x, buf), member: newLeaseMember()}
		engine.Set(x, p.lease, l)
		now := x.Now()
		return x.Offload(func(ctx context.Context) func(*engine.Ctx) engine.Status {
			// The script runs to its end even when the request goes away
			// meanwhile (bounded by the client's read_timeout), so that a
			// slot taken is always known and given back.
			admitted, err := p.acquireRedis(context.WithoutCancel(ctx), l, now)
			if err == nil && admitted && !l.state.CompareAndSwap(leasePending, leaseHeld) {
				p.releaseRedis(l) // the request ended first: the log phase left it to us
			}
			if err != nil || !admitted {
				l.state.Store(leaseDone)
			}
			return func(x *engine.Ctx) engine.Status {
				if err != nil {
					return p.redisFailed(x, err)
				}
				if !admitted {
					return p.refuseConn(x)
				}
				p.results.Inc(x, limitAllowed)
				return engine.Continue
			}
		})
	}
	n, err := p.dict.Incr(buf, 1, 0, 0)
	if err != nil {
		x.ScratchDone(buf)
		p.results.Inc(x, limitFallback)
		return engine.Continue // the dict failed: fail open, uncounted
	}
	if n > p.max {
		_, _ = p.dict.IncrExisting(buf, -1)
		x.ScratchDone(buf)
		return p.refuseConn(x)
	}
	free := p.slots.get(x.WorkerID())
	var s *connSlot
	if k := len(*free); k > 0 {
		s = (*free)[k-1]
		*free = (*free)[:k-1]
	} else {
		s = new(connSlot)
	}
	s.key = append(s.key[:0], buf...)
	x.ScratchDone(buf)
	engine.Set(x, p.local, s)
	p.results.Inc(x, limitAllowed)
	return engine.Continue
}

func (p *limitConn) refuseConn(x *engine.Ctx) engine.Status {
	var fields []byte
	if p.headers {
		fields = append(x.Scratch(), "Retry-After: 1\r\n"...)
	}
	return p.refuse(x, fields)
}

// release gives the request's slot back; it runs in the log phase.
func (p *limitConn) release(x *engine.Ctx) engine.Status {
	if s, ok := engine.Get(x, p.local); ok && s != nil {
		engine.Set[*connSlot](x, p.local, nil)
		_, _ = p.dict.IncrExisting(s.key, -1)
		free := p.slots.get(x.WorkerID())
		*free = append(*free, s)
	}
	if l, ok := engine.Get(x, p.lease); ok && l != nil {
		engine.Set[*connLease](x, p.lease, nil)
		if l.state.Swap(leaseDone) == leaseHeld {
			if !x.Go(func() { p.releaseRedis(l) }) {
				go p.releaseRedis(l) // the pool is full; the release must not be lost
			}
		}
	}
	return engine.Continue
}

// inFlightLocal is the number of slots in use for a counter key (tests).
func (p *limitConn) inFlightLocal(key []byte) int64 {
	v, ok := p.dict.Get(key, nil)
	if !ok {
		return 0
	}
	return v.Int
}

// limitConnAcquire takes a slot in the sorted set KEYS[1]. ARGV: now (ms),
// the lease (ms), max, the member. Returns {1, n} (taken; n in use with
// it) or {0, n} (all n in use).
var limitConnAcquire = rueidis.NewLuaScript(`local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then return {0, n} end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, n + 1}`)

// limitConnRelease gives the slot ARGV[1] of KEYS[1] back.
var limitConnRelease = rueidis.NewLuaScript(`return redis.call('ZREM', KEYS[1], ARGV[1])`)

func (p *limitConn) acquireRedis(ctx context.Context, l *connLease, now int64) (bool, error) {
	msg, err := p.redis.Eval(ctx, limitConnAcquire, []string{l.key}, []string{
		strconv.FormatInt(now/int64(time.Millisecond), 10),
		strconv.FormatInt(max(p.slotTTL/int64(time.Millisecond), 1), 10),
		strconv.FormatInt(p.max, 10),
		l.member,
	})
	if err != nil {
		return false, err
	}
	vals, err := msg.AsIntSlice()
	if err != nil || len(vals) != 2 {
		return false, fmt.Errorf("%w: limit-conn script answered %v (%v)", redis.ErrReply, vals, err)
	}
	return vals[0] == 1, nil
}

// releaseRedis removes a slot, off the loop; when Redis fails the slot
// ends with its lease.
func (p *limitConn) releaseRedis(l *connLease) {
	if _, err := p.redis.Eval(context.Background(), limitConnRelease, []string{l.key}, []string{l.member}); err != nil {
		logRedisFailure(p.kind, p.identity, err, p.redisErrs.Add(1))
	}
}
