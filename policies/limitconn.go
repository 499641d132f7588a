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
	lease engine.Key[*connLease] // the slot held in Redis, through the client
	slots perWorker[[]*connSlot] // free local slots, per worker

	// The slot in Redis when the worker's loop asks (peer): its state
	// (connNone, connPending, connHeld), its member's number, and the
	// request's counter key as it was then (a policy after this one may
	// change what the key is made of).
	loopState engine.IntKey
	loopSeq   engine.IntKey
	loopSlot  engine.Key[*connSlot]
	// The continuations of the acquisition (made once): of EVALSHA, of
	// the EVAL sent when Redis lacks the script, and for a request gone
	// before the reply.
	acquired, acquiredEval engine.PeerReply
	orphaned               engine.PeerOrphan
}

// The states of a slot asked for on the loop.
const (
	connNone    = iota // none asked, or none held
	connPending        // the acquisition is in flight
	connHeld           // acquired: the log phase gives it back
)

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

// schemaEnums: redis-lease, in the shared policy field's enum, is for
// limit-count only (newLimitBase refuses it here).
func (limitConnConfig) schemaEnums() map[string][]string {
	return map[string][]string{"policy": {"local", "redis"}}
}

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
	p := &limitConn{limitBase: base, max: cfg.Max, slotTTL: int64(cfg.SlotTTL)}
	p.acquired = func(x *engine.Ctx, reply []byte, err error) engine.Status {
		return p.acquiredOnLoop(x, reply, err, false)
	}
	p.acquiredEval = func(x *engine.Ctx, reply []byte, err error) engine.Status {
		return p.acquiredOnLoop(x, reply, err, true)
	}
	p.orphaned = p.acquiredOrphan
	return p, nil
}

func (p *limitConn) Priority() int { return limitPriority }

func (p *limitConn) Install(c *engine.ChainBuilder) error {
	p.local = engine.NewPrivateKey[*connSlot](c)
	p.lease = engine.NewPrivateKey[*connLease](c)
	p.loopState = c.PrivateInt()
	p.loopSeq = c.PrivateInt()
	p.loopSlot = engine.NewPrivateKey[*connSlot](c)
	c.Add(engine.PhaseAccess, p.access)
	c.Add(engine.PhaseLog, p.release)
	return nil
}

func (p *limitConn) access(x *engine.Ctx) engine.Status {
	buf, st, ok := p.counterKey(x)
	if !ok {
		return st
	}
	if p.peer != nil {
		return p.callRedis(x, buf, x.Now(), false)
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
	s := p.takeSlot(x, buf)
	x.ScratchDone(buf)
	engine.Set(x, p.local, s)
	p.results.Inc(x, limitAllowed)
	return engine.Continue
}

// takeSlot returns a slot record of the worker's with key (copied).
func (p *limitConn) takeSlot(x *engine.Ctx, key []byte) *connSlot {
	free := p.slots.get(x.WorkerID())
	var s *connSlot
	if k := len(*free); k > 0 {
		s = (*free)[k-1]
		*free = (*free)[:k-1]
	} else {
		s = new(connSlot)
	}
	s.key = append(s.key[:0], key...)
	return s
}

// putSlot gives a slot record back to the worker's.
func (p *limitConn) putSlot(x *engine.Ctx, s *connSlot) {
	free := p.slots.get(x.WorkerID())
	*free = append(*free, s)
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
		p.putSlot(x, s)
	}
	if s, ok := engine.Get(x, p.loopSlot); ok && s != nil {
		engine.Set[*connSlot](x, p.loopSlot, nil)
		if x.Int(p.loopState) == connHeld {
			// Pending: the request went away before the answer, which
			// acquiredOrphan gets.
			x.SetInt(p.loopState, connNone)
			p.releaseOnLoop(x, s.key)
		}
		p.putSlot(x, s)
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
// the lease (ms), max, the member. Returns {1, n, KEYS[1], member} (taken;
// n in use with it: the key and member name it, to give it back when its
// request went away meanwhile) or {0, n} (all n in use).
var limitConnAcquire = rueidis.NewLuaScript(limitConnAcquireLua)

// limitConnLoop is limitConnAcquire for the loop's calls.
var limitConnLoop = newLoopScript(limitConnAcquireLua)

const limitConnAcquireLua = `local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then return {0, n} end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, n + 1, KEYS[1], ARGV[4]}`

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
	vals, err := msg.ToArray()
	if err != nil || len(vals) < 2 {
		return false, fmt.Errorf("%w: limit-conn script answered %v (%v)", redis.ErrReply, vals, err)
	}
	first, err := vals[0].AsInt64()
	if err != nil {
		return false, fmt.Errorf("%w: limit-conn script answered %v (%v)", redis.ErrReply, vals, err)
	}
	return first == 1, nil
}

// releaseRedis removes a slot, off the loop; when Redis fails the slot
// ends with its lease.
func (p *limitConn) releaseRedis(l *connLease) {
	if _, err := p.redis.Eval(context.Background(), limitConnRelease, []string{l.key}, []string{l.member}); err != nil {
		logRedisFailure(p.kind, p.identity, err, p.redisErrs.Add(1))
	}
}

// callRedis asks Redis for a slot on the worker's loop (policy: redis with
// a standalone server): buf is the request's local counter key, the
// command is built after it. With eval the script itself goes, else its
// SHA. A request gone before the reply leaves the slot to acquiredOrphan.
func (p *limitConn) callRedis(x *engine.Ctx, buf []byte, now int64, eval bool) engine.Status {
	seq := x.Int(p.loopSeq)
	if seq == 0 {
		seq = int64(leaseSeq.Add(1))
		x.SetInt(p.loopSeq, seq)
		engine.Set(x, p.loopSlot, p.takeSlot(x, buf))
	}
	x.SetInt(p.loopState, connPending)
	req := limitConnLoop.appendHead(buf, eval, 1, 4)
	req = p.appendRedisKey(req, buf[len(p.prefix):], nil)
	req = redis.AppendBulkInt(req, now/int64(time.Millisecond))
	req = redis.AppendBulkInt(req, max(p.slotTTL/int64(time.Millisecond), 1))
	req = redis.AppendBulkInt(req, p.max)
	req = appendLeaseMember(req, seq)
	done := p.acquired
	if eval {
		done = p.acquiredEval
	}
	x.ScratchDone(req) // CallPeerOr copies the call first
	return x.CallPeerOr(p.peer, req[len(buf):], done, p.orphaned)
}

// appendLeaseMember appends, as a bulk string, the member of the slot
// numbered seq: leasePrefix and seq in base 36, as newLeaseMember.
func appendLeaseMember(dst []byte, seq int64) []byte {
	var name [48]byte
	return redis.AppendBulk(dst, strconv.AppendUint(append(name[:0], leasePrefix...), uint64(seq), 36))
}

// acquiredOnLoop continues a request with Redis's answer to its slot; a
// server without the script gets it with EVAL, once.
func (p *limitConn) acquiredOnLoop(x *engine.Ctx, reply []byte, err error, eval bool) engine.Status {
	if err == nil && !eval && redis.IsNoScript(reply) {
		return p.resendScript(x, p, x.Now())
	}
	var els [4][]byte
	var taken bool
	if err == nil {
		taken, err = connAnswer(els[:0], reply)
	}
	p.countLoopCall(err)
	if err != nil {
		x.SetInt(p.loopState, connNone)
		return p.redisFailed(x, err)
	}
	if !taken {
		x.SetInt(p.loopState, connNone)
		return p.refuseConn(x)
	}
	x.SetInt(p.loopState, connHeld)
	p.results.Inc(x, limitAllowed)
	return engine.Continue
}

// connAnswer reads limitConnAcquire's answer: whether the slot was taken.
func connAnswer(els [][]byte, reply []byte) (bool, error) {
	els, err := redis.AppendElements(els, reply)
	if err != nil {
		return false, err
	}
	if len(els) < 2 {
		return false, fmt.Errorf("%w: limit-conn script answered %d values", redis.ErrReply, len(els))
	}
	first, ok := redis.ParseInt(els[0])
	if !ok {
		return false, fmt.Errorf("%w: limit-conn script answered %q", redis.ErrReply, els[0])
	}
	return first == 1, nil
}

// acquiredOrphan gives back a slot taken for a request that went away
// before Redis answered: the answer names its key and member.
func (p *limitConn) acquiredOrphan(reply []byte, err error, send func([]byte)) {
	if err != nil {
		return // nothing known taken; a slot taken all the same ends with its lease
	}
	var buf [4][]byte
	els, aerr := redis.AppendElements(buf[:0], reply)
	if aerr != nil || len(els) != 4 || string(els[0]) != "1" {
		return
	}
	send(appendConnRelease(nil, els[2], els[3]))
}

// appendConnRelease appends the command giving the slot member of key
// back: ZREM (no script: nothing for a restarted server to have lost).
func appendConnRelease(dst, key, member []byte) []byte {
	dst = redis.AppendArray(dst, 3)
	dst = redis.AppendBulkString(dst, "ZREM")
	return redis.AppendBulk(redis.AppendBulk(dst, key), member)
}

// releaseOnLoop gives the request's slot back from the log phase, without
// waiting for the answer: key is the request's local counter key when it
// took the slot. A slot that cannot be given back (Redis down) ends with
// its lease.
func (p *limitConn) releaseOnLoop(x *engine.Ctx, key []byte) {
	req := redis.AppendArray(x.Scratch(), 3)
	req = redis.AppendBulkString(req, "ZREM")
	req = p.appendRedisKey(req, key[len(p.prefix):], nil)
	req = appendLeaseMember(req, x.Int(p.loopSeq))
	x.ScratchDone(req)
	if err := x.SendPeer(p.peer, req); err != nil {
		logRedisFailure(p.kind, p.identity, err, p.redisErrs.Add(1))
	}
}
