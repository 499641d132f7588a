package policies

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/shm"
)

// limitReqConfig is the `limit-req` policy's config: nginx's limit_req, a
// leaky bucket per key.
type limitReqConfig struct {
	// Rate is the bucket's drain rate: "10r/s" or "600r/m". Required.
	Rate string `yaml:"rate" desc:"requests per second or per minute: 10r/s, 600r/m; required"`
	// Burst is how many requests above the rate wait in the bucket (and are
	// delayed) instead of being refused. Default 0.
	Burst int64 `yaml:"burst" desc:"requests above the rate that are delayed rather than refused; default 0"`
	// NoDelay lets the requests within the burst through at once instead
	// of delaying them (they still fill the bucket). Default false.
	NoDelay bool `yaml:"nodelay" desc:"pass requests within the burst at once instead of delaying them; default false"`

	Common limitCommonConfig `yaml:",inline"`
}

// limitReq is a leaky bucket per key, in nginx's limit_req semantics,
// kept as the bucket's theoretical arrival time (GCRA, the same algorithm
// in another form): each request moves it one interval (1/rate) later; a
// request finding it w in the future waits w (delayed on the worker's
// timer, or passed at once with nodelay) when w is within the burst
// (burst intervals), and is refused otherwise without moving it.
//
// Locally the bucket is one number in the shared dict, read and written
// under a striped lock of its key (the dict has no compare-and-swap): exact
// across workers. With Redis it is one Lua script: exact across gateways,
// whose clocks must agree (NTP) to the precision the rate needs.
type limitReq struct {
	*limitBase
	interval int64 // nanoseconds between requests at the rate
	burst    int64
	noDelay  bool
	capText  []byte // burst+1, for X-RateLimit-Limit

	remaining engine.IntKey // burst left + 1 (0: not counted)
	emptyAt   engine.IntKey // when the bucket drains, unix ns
	calledAt  engine.IntKey // policy: redis on the loop: the decision's time

	// The continuations of a decision asked on the loop (made once), of
	// EVALSHA and of the EVAL sent when Redis lacks the script.
	replied, repliedEval engine.PeerReply
}

func init() { RegisterConfig("limit-req", limitReqConfig{}, newLimitReq) }

// schemaEnums: redis-lease, in the shared policy field's enum, is for
// limit-count only (newLimitBase refuses it here).
func (limitReqConfig) schemaEnums() map[string][]string {
	return map[string][]string{"policy": {"local", "redis"}}
}

func newLimitReq(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg limitReqConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	interval, err := parseRate(cfg.Rate)
	if err != nil {
		return nil, config.FieldError(spec, "rate", err.Error())
	}
	if cfg.Burst < 0 || cfg.Burst > 1_000_000 {
		return nil, config.FieldError(spec, "burst", fmt.Sprintf("must be between 0 and 1000000, got %d", cfg.Burst))
	}
	base, err := newLimitBase("limit-req", "lr", spec, env, &cfg.Common, "rate limit exceeded")
	if err != nil {
		return nil, err
	}
	p := &limitReq{limitBase: base, interval: interval, burst: cfg.Burst, noDelay: cfg.NoDelay,
		capText: strconv.AppendInt(nil, cfg.Burst+1, 10)}
	p.replied = func(x *engine.Ctx, reply []byte, err error) engine.Status {
		return p.redisReplied(x, reply, err, false)
	}
	p.repliedEval = func(x *engine.Ctx, reply []byte, err error) engine.Status { return p.redisReplied(x, reply, err, true) }
	return p, nil
}

// parseRate reads "10r/s" or "600r/m" and returns the interval between
// requests in nanoseconds.
func parseRate(s string) (int64, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "r/")
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n <= 0 || (unit != "s" && unit != "m") {
		return 0, fmt.Errorf(`must be a rate such as 10r/s or 600r/m, got %q`, s)
	}
	per := int64(time.Second)
	if unit == "m" {
		per = int64(time.Minute)
	}
	if n > per/1000 {
		return 0, fmt.Errorf("%q is too fast: at most one request per microsecond", s)
	}
	return per / n, nil
}

func (p *limitReq) Priority() int { return limitPriority }

func (p *limitReq) Install(c *engine.ChainBuilder) error {
	p.remaining = c.PrivateInt()
	p.emptyAt = c.PrivateInt()
	p.calledAt = c.PrivateInt()
	c.Add(engine.PhaseAccess, p.access)
	if p.headers {
		c.Add(engine.PhaseHeaderFilter, p.addHeaders)
	}
	return nil
}

// reqDecision is a request's fate in a bucket.
type reqDecision struct {
	allowed bool
	wait    int64 // allowed: how long it must wait (its delay); refused: until it would fit
}

// decideLocal runs a request through the bucket at key in the shared dict.
func (p *limitReq) decideLocal(key []byte, now int64) reqDecision {
	mu := lockKey(key)
	mu.Lock()
	tat := now
	if v, ok := p.dict.Get(key, nil); ok && v.Kind == shm.KindInt && v.Int > now {
		tat = v.Int
	}
	wait := tat - now
	if over := wait - p.burst*p.interval; over > 0 {
		mu.Unlock()
		return reqDecision{wait: over}
	}
	// The state matters until the bucket has drained; a second more for
	// workers whose clocks lag.
	err := p.dict.Set(key, shm.Value{Kind: shm.KindInt, Int: tat + p.interval}, time.Duration(wait+p.interval)+time.Second)
	mu.Unlock()
	if err != nil {
		return reqDecision{allowed: true, wait: -1} // the dict failed: fail open, uncounted
	}
	return reqDecision{allowed: true, wait: wait}
}

func (p *limitReq) access(x *engine.Ctx) engine.Status {
	buf, st, ok := p.counterKey(x)
	if !ok {
		return st
	}
	now := x.Now()
	if p.peer != nil {
		return p.callRedis(x, buf, now, false)
	}
	if p.redis != nil {
		key := p.redisKey(x, buf)
		return offloadDecision(p.limitBase, x,
			func(ctx context.Context) (reqDecision, error) { return p.decideRedis(ctx, key, now) },
			func(x *engine.Ctx, d reqDecision) engine.Status { return p.apply(x, d, now) })
	}
	d := p.decideLocal(buf, now)
	x.ScratchDone(buf)
	return p.apply(x, d, now)
}

func (p *limitReq) apply(x *engine.Ctx, d reqDecision, now int64) engine.Status {
	if !d.allowed {
		var fields []byte
		if p.headers {
			fields = appendRateLimitFields(x.Scratch(), p.capText, 0, p.burst*p.interval+d.wait)
			fields = appendRetryAfter(fields, d.wait)
		}
		return p.refuse(x, fields)
	}
	if d.wait < 0 {
		p.results.Inc(x, limitFallback)
		return engine.Continue // uncounted
	}
	p.results.Inc(x, limitAllowed)
	x.SetInt(p.remaining, (p.burst*p.interval-d.wait)/p.interval+1)
	x.SetInt(p.emptyAt, now+d.wait+p.interval)
	if p.noDelay || d.wait == 0 {
		return engine.Continue
	}
	return x.Delay(time.Duration(d.wait))
}

func (p *limitReq) addHeaders(x *engine.Ctx) engine.Status {
	r := x.Int(p.remaining)
	if r == 0 {
		return engine.Continue
	}
	setRateLimitHeaders(x, p.capText, r-1, x.Int(p.emptyAt)-x.Now())
	return engine.Continue
}

// limitReqScript runs a request through the bucket KEYS[1], its
// theoretical arrival time in microseconds. ARGV: now (µs), the interval
// (µs), the burst. Returns {1, wait} (admitted, to be delayed wait µs) or
// {0, over} (refused; it would fit in over µs).
var limitReqScript = rueidis.NewLuaScript(limitReqLua)

// limitReqLoop is limitReqScript for the loop's calls.
var limitReqLoop = newLoopScript(limitReqLua)

const limitReqLua = `local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
local over = wait - burst * interval
if over > 0 then return {0, over} end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', string.format('%.0f', math.ceil((wait + interval) / 1000) + 1000))
return {1, wait}`

func (p *limitReq) decideRedis(ctx context.Context, key string, now int64) (reqDecision, error) {
	msg, err := p.redis.Eval(ctx, limitReqScript, []string{key}, []string{
		strconv.FormatInt(now/1000, 10),
		strconv.FormatInt(max(p.interval/1000, 1), 10),
		strconv.FormatInt(p.burst, 10),
	})
	if err != nil {
		return reqDecision{}, err
	}
	vals, err := msg.AsIntSlice()
	if err != nil || len(vals) != 2 {
		return reqDecision{}, fmt.Errorf("%w: limit-req script answered %v (%v)", redis.ErrReply, vals, err)
	}
	return reqDecision{allowed: vals[0] == 1, wait: vals[1] * 1000}, nil
}

// callRedis asks Redis for the decision on the worker's loop (policy:
// redis with a standalone server), as limit-count does: buf is the
// request's local counter key, the command is built after it. With eval
// the script itself goes, else its SHA.
func (p *limitReq) callRedis(x *engine.Ctx, buf []byte, now int64, eval bool) engine.Status {
	x.SetInt(p.calledAt, now)
	req := limitReqLoop.appendHead(buf, eval, 1, 3)
	req = p.appendRedisKey(req, buf[len(p.prefix):], nil)
	req = redis.AppendBulkInt(req, now/1000)
	req = redis.AppendBulkInt(req, max(p.interval/1000, 1))
	req = redis.AppendBulkInt(req, p.burst)
	done := p.replied
	if eval {
		done = p.repliedEval
	}
	return p.sendLoop(x, req, len(buf), done)
}

// redisReplied continues a request with Redis's decision on the loop; a
// server without the script gets it with EVAL, once.
func (p *limitReq) redisReplied(x *engine.Ctx, reply []byte, err error, eval bool) engine.Status {
	now := x.Int(p.calledAt)
	if err == nil && !eval && redis.IsNoScript(reply) {
		return p.resendScript(x, p, now)
	}
	var d reqDecision
	if err == nil {
		var ints [2]int64
		var vals []int64
		if vals, err = redis.AppendInts(ints[:0], reply); err == nil {
			if len(vals) != 2 {
				err = fmt.Errorf("%w: limit-req script answered %d values", redis.ErrReply, len(vals))
			} else {
				d = reqDecision{allowed: vals[0] == 1, wait: vals[1] * 1000}
			}
		}
	}
	p.countLoopCall(err)
	if err != nil {
		return p.redisFailed(x, err)
	}
	return p.apply(x, d, now)
}
