package policies

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
)

// limitCountConfig is the `limit-count` policy's config: at most Count
// requests per Window for each key — or several such limits at once
// (Limits) — in fixed or sliding windows.
type limitCountConfig struct {
	// Count, Window and Calendar are the one-limit form; Limits the
	// several-limit form. One of the two is required.
	One limitSpec `yaml:",inline"`
	// Limits are several limits applied together: a request passes when
	// every one has room, and is then counted in every one.
	Limits []limitSpec `yaml:"limits" desc:"several limits applied together ([{count: 100, window: 1s}, {count: 10000, window: 24h}]); instead of count and window"`
	// WindowType is "fixed" (default: windows start at multiples of the
	// window since the Unix epoch, so 1s, 1m, 1h and 24h are calendar
	// seconds, minutes, hours and UTC days) or "sliding" (the two-window
	// estimate: the current window's count plus the previous one's,
	// weighted by how much of it the sliding window still covers).
	WindowType string `yaml:"window_type" enum:"fixed|sliding" desc:"fixed (default; epoch-aligned windows, so 1s, 1m, 1h, 24h are calendar ones) or sliding (two-window estimate)"`
	// DraftHeaders adds the IETF RateLimit-Policy and RateLimit fields
	// (draft-ietf-httpapi-ratelimit-headers-09) beside X-RateLimit-*, on
	// successes and refusals, when Headers is on. Default false.
	DraftHeaders bool `yaml:"draft_headers" desc:"also send the IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers); default false"`

	Common limitCommonConfig `yaml:",inline"`
}

// limitSpec is one limit: Count requests per Window, or per calendar unit.
type limitSpec struct {
	// Count of requests allowed per window, > 0.
	Count int64 `yaml:"count" desc:"requests allowed per window, > 0"`
	// Window length, a positive duration (or Calendar).
	Window config.Duration `yaml:"window" desc:"window length, a positive duration (or calendar)"`
	// Calendar is a calendar window instead of Window: second, minute,
	// hour, day (UTC) or month (UTC, 28 to 31 days); always fixed.
	Calendar string `yaml:"calendar" enum:"second|minute|hour|day|month" desc:"a calendar window instead of window: second, minute, hour, day or month (UTC); fixed"`
	// Lease is, with policy: redis-lease, how many requests of this limit
	// a gateway takes from Redis at a time: 1..Count. Default Count/100,
	// at least 1. At the top level it is the default of every limit in
	// Limits.
	Lease int64 `yaml:"lease" desc:"policy: redis-lease: requests a gateway takes from Redis at a time, 1..count; default count/100, at least 1"`
}

// limitCount counts requests per key in windows. A counter is the key plus
// the limit's index and the window's number, so a new window starts from
// zero without resetting anything, and counters expire after they stop
// mattering.
//
// Locally, each counter is an atomic Incr in the shared dict: with any
// number of workers, a limit of N admits exactly N requests of a fixed
// window. A request refused by one limit takes its count back from the
// others (a second Incr), so refused requests do not eat the quota; two
// requests racing at the very edge of the quota may both be refused where
// one had room (never both admitted). With Redis, one Lua script reads
// every limit and counts the request in all of them only when all have
// room: exact across every gateway sharing the Redis.
//
// The sliding estimate assumes the previous window's requests were spread
// evenly (as Cloudflare's and Kong's): it may admit somewhat more or fewer
// than Count in an arbitrary interval of the window's length, never more
// than Count within one fixed window.
type limitCount struct {
	*limitBase
	limits  []countWindow
	sliding bool
	policy  []byte // the RateLimit-Policy value; nil: no draft fields

	book *leaseBook // redis-lease: this gateway's leases of the policy's identity

	remaining engine.IntKey // remaining+1 of the reported limit (0: not counted)
	resetAt   engine.IntKey // when the reported limit's window ends, unix ns
	which     engine.IntKey // the reported limit's index
	calledAt  engine.IntKey // policy: redis on the loop: the decision's time

	// The continuations of a decision asked on the loop (made once: a
	// method value per request would allocate): of EVALSHA, and of the
	// EVAL sent when Redis lacks the script.
	replied, repliedEval engine.PeerReply
}

// countWindow is one compiled limit.
type countWindow struct {
	count  int64
	window int64 // nanoseconds; 0 for a calendar month
	month  bool
	text   []byte // count, for X-RateLimit-Limit
	lease  int64  // redis-lease: requests taken from Redis at a time
	low    int64  // redis-lease: the balance at which the next lease is prefetched
}

func init() { RegisterConfig("limit-count", limitCountConfig{}, newLimitCount) }

func newLimitCount(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg limitCountConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &limitCount{}
	// A top-level lease is the one limit's, or every limit's default.
	topLease := cfg.One.Lease
	cfg.One.Lease = 0
	switch cfg.WindowType {
	case "", "fixed":
	case "sliding":
		p.sliding = true
	default:
		return nil, config.FieldError(spec, "window_type", fmt.Sprintf(`must be "fixed" or "sliding", got %q`, cfg.WindowType))
	}
	one := cfg.One != limitSpec{}
	switch {
	case one && len(cfg.Limits) > 0:
		return nil, config.FieldError(spec, "limits", "give either count and window, or limits, not both")
	case one:
		w, err := compileLimit(spec, "", cfg.One, p.sliding)
		if err != nil {
			return nil, err
		}
		p.limits = []countWindow{w}
	case len(cfg.Limits) > 0:
		if len(cfg.Limits) > 8 {
			return nil, config.FieldError(spec, "limits", fmt.Sprintf("at most 8 limits, got %d", len(cfg.Limits)))
		}
		for i, l := range cfg.Limits {
			w, err := compileLimit(spec, "limits["+itoa(i)+"].", l, p.sliding)
			if err != nil {
				return nil, err
			}
			p.limits = append(p.limits, w)
		}
	default:
		return nil, config.FieldError(spec, "count", "must be > 0, got 0 (give count and window, or limits)")
	}
	base, err := newLimitBase("limit-count", "lc", spec, env, &cfg.Common, "rate limit exceeded")
	if err != nil {
		return nil, err
	}
	p.limitBase = base
	p.replied = func(x *engine.Ctx, reply []byte, err error) engine.Status {
		return p.redisReplied(x, reply, err, false)
	}
	p.repliedEval = func(x *engine.Ctx, reply []byte, err error) engine.Status { return p.redisReplied(x, reply, err, true) }
	if err := p.compileLeases(spec, topLease, cfg.Limits); err != nil {
		return nil, err
	}
	if cfg.DraftHeaders {
		p.policy = p.appendPolicyField(nil)
	}
	return p, nil
}

// appendPolicyField appends the RateLimit-Policy value: one item per
// limit, named "pI", with its quota and window in seconds (none for a
// calendar month, whose length varies).
func (p *limitCount) appendPolicyField(dst []byte) []byte {
	for i, l := range p.limits {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, '"', 'p', byte('0'+i), '"', ';', 'q', '=')
		dst = append(dst, l.text...)
		if !l.month {
			dst = append(dst, ";w="...)
			dst = strconv.AppendInt(dst, ceilSeconds(l.window), 10)
		}
	}
	return dst
}

// appendRateLimitField appends the RateLimit value of limit i.
func appendRateLimitField(dst []byte, i int, remaining, resetNanos int64) []byte {
	dst = append(dst, '"', 'p', byte('0'+i), '"', ';', 'r', '=')
	dst = strconv.AppendInt(dst, max(remaining, 0), 10)
	dst = append(dst, ";t="...)
	return strconv.AppendInt(dst, ceilSeconds(resetNanos), 10)
}

func compileLimit(spec config.PolicySpec, at string, l limitSpec, sliding bool) (countWindow, error) {
	if l.Count <= 0 {
		return countWindow{}, config.FieldError(spec, at+"count", fmt.Sprintf("must be > 0, got %d", l.Count))
	}
	w := countWindow{count: l.Count, window: int64(l.Window), text: strconv.AppendInt(nil, l.Count, 10)}
	if l.Calendar != "" {
		if l.Window != 0 {
			return countWindow{}, config.FieldError(spec, at+"calendar", "give window or calendar, not both")
		}
		switch l.Calendar {
		case "second":
			w.window = int64(time.Second)
		case "minute":
			w.window = int64(time.Minute)
		case "hour":
			w.window = int64(time.Hour)
		case "day":
			w.window = int64(24 * time.Hour)
		case "month":
			w.month = true
		default:
			return countWindow{}, config.FieldError(spec, at+"calendar", fmt.Sprintf(`must be second, minute, hour, day or month, got %q`, l.Calendar))
		}
		if sliding {
			return countWindow{}, config.FieldError(spec, at+"calendar", "calendar windows are fixed: use window with window_type: sliding")
		}
		return w, nil
	}
	if l.Window <= 0 {
		return countWindow{}, config.FieldError(spec, at+"window", "must be a positive duration such as 1s or 1m")
	}
	return w, nil
}

func (p *limitCount) Priority() int { return limitPriority }

func (p *limitCount) Install(c *engine.ChainBuilder) error {
	p.remaining = c.PrivateInt()
	p.resetAt = c.PrivateInt()
	p.which = c.PrivateInt()
	p.calledAt = c.PrivateInt()
	c.Add(engine.PhaseAccess, p.access)
	if p.headers {
		c.Add(engine.PhaseHeaderFilter, p.addHeaders)
	}
	return nil
}

// bounds returns the number of the window holding now, when it started and
// its length.
func (w *countWindow) bounds(now int64) (num, start, length int64) {
	if !w.month {
		num = now / w.window
		return num, num * w.window, w.window
	}
	y, m, _ := time.Unix(0, now).UTC().Date()
	s := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	e := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	return int64(y)*12 + int64(m) - 1, s.UnixNano(), e.UnixNano() - s.UnixNano()
}

// ttl is how long a window's counter matters: its window, and the next one
// for a sliding limit (where it is the previous window), plus a second for
// late requests.
func (w *countWindow) ttl(length int64, sliding bool) time.Duration {
	if sliding {
		length *= 2
	}
	return time.Duration(length) + time.Second
}

// prevWeight is the part of the previous window the sliding window still
// covers at elapsed into the current one.
func prevPart(prev, elapsed, length int64) int64 {
	if prev <= 0 {
		return 0
	}
	return int64(float64(prev) * float64(length-elapsed) / float64(length))
}

// countDecision is the outcome of a request against every limit.
type countDecision struct {
	allowed   bool
	counted   bool  // false: the store failed and the request went uncounted
	which     int   // the limit reported: the refusing one, else the tightest
	remaining int64 // requests left in it after this one
	resetIn   int64 // nanoseconds until its window ends
	retryIn   int64 // refusals: nanoseconds until a request may pass
}

// decideLocal counts a request in the shared dict. buf holds the counter
// key's prefix in buf[:base]; the window suffixes are appended after it,
// and the grown buffer is returned for reuse.
func (p *limitCount) decideLocal(buf []byte, base int, now int64) (countDecision, []byte) {
	d := countDecision{allowed: true, counted: true, remaining: -1}
	for i := range p.limits {
		l := &p.limits[i]
		num, start, length := l.bounds(now)
		buf = appendWindowSuffix(buf[:base], i, num)
		n, err := p.dict.Incr(buf, 1, 0, l.ttl(length, p.sliding))
		if err != nil {
			// The dict failed (full of unevictable entries): fail open, as
			// Kong's fault_tolerant does; the request is not counted.
			p.undoLocal(buf, base, now, i)
			return countDecision{allowed: true}, buf
		}
		est := n
		var prev int64
		if p.sliding {
			buf = appendWindowSuffix(buf[:base], i, num-1)
			if v, ok := p.dict.Get(buf, nil); ok {
				prev = v.Int
			}
			est += prevPart(prev, now-start, length)
		}
		if est > l.count {
			p.undoLocal(buf, base, now, i+1)
			return countDecision{which: i, remaining: 0, resetIn: start + length - now,
				retryIn: retryIn(l.count, n-1, prev, now-start, length)}, buf
		}
		if left := l.count - est; d.remaining < 0 || left < d.remaining {
			d.which, d.remaining, d.resetIn = i, left, start+length-now
		}
	}
	return d, buf
}

// undoLocal takes back the request's count from the first n limits.
func (p *limitCount) undoLocal(buf []byte, base int, now int64, n int) {
	for i := 0; i < n; i++ {
		num, _, _ := p.limits[i].bounds(now)
		buf = appendWindowSuffix(buf[:base], i, num)
		_, _ = p.dict.IncrExisting(buf, -1)
	}
}

func appendWindowSuffix(dst []byte, limit int, num int64) []byte {
	dst = append(dst, '|', byte('0'+limit), '|')
	return strconv.AppendInt(dst, num, 36)
}

// retryIn is how long until one more request fits a limit of count where
// cur requests were counted in the current window and prev in the one
// before, at elapsed into the window: the window's end when the current
// one is full, else when the previous window's weight has decayed enough.
func retryIn(count, cur, prev, elapsed, length int64) int64 {
	if cur+1 > count || prev <= 0 {
		return length - elapsed
	}
	// prev*(length-t)/length < count-cur  ⇔  t > length - (count-cur)*length/prev
	t := length - int64(float64(count-cur)*float64(length)/float64(prev))
	if t <= elapsed {
		return 1
	}
	return t - elapsed
}

func (p *limitCount) access(x *engine.Ctx) engine.Status {
	buf, st, ok := p.counterKey(x)
	if !ok {
		return st
	}
	now := x.Now()
	if p.lease {
		return p.spendOrLease(x, buf, now)
	}
	if p.peer != nil {
		return p.callRedis(x, buf, now, false)
	}
	if p.redis != nil {
		key := p.redisKey(x, buf)
		return offloadDecision(p.limitBase, x,
			func(ctx context.Context) (countDecision, error) { return p.decideRedis(ctx, key, now) },
			func(x *engine.Ctx, d countDecision) engine.Status { return p.apply(x, d, now) })
	}
	d, buf := p.decideLocal(buf, len(buf), now)
	x.ScratchDone(buf)
	return p.apply(x, d, now)
}

// apply carries out a decision: the refusal, or the numbers for the
// header filter.
func (p *limitCount) apply(x *engine.Ctx, d countDecision, now int64) engine.Status {
	if !d.allowed {
		var fields []byte
		if p.headers {
			fields = appendRateLimitFields(x.Scratch(), p.limits[d.which].text, 0, d.resetIn)
			if p.policy != nil {
				fields = append(append(append(fields, "RateLimit-Policy: "...), p.policy...), "\r\nRateLimit: "...)
				fields = append(appendRateLimitField(fields, d.which, 0, d.resetIn), "\r\n"...)
			}
			fields = appendRetryAfter(fields, d.retryIn)
		}
		return p.refuse(x, fields)
	}
	if !d.counted {
		p.results.Inc(x, limitFallback)
		return engine.Continue
	}
	p.results.Inc(x, limitAllowed)
	x.SetInt(p.remaining, d.remaining+1)
	x.SetInt(p.resetAt, now+d.resetIn)
	x.SetInt(p.which, int64(d.which))
	return engine.Continue
}

func (p *limitCount) addHeaders(x *engine.Ctx) engine.Status {
	r := x.Int(p.remaining)
	if r == 0 {
		return engine.Continue
	}
	which, resetIn := int(x.Int(p.which)), x.Int(p.resetAt)-x.Now()
	setRateLimitHeaders(x, p.limits[which].text, r-1, resetIn)
	if p.policy != nil {
		x.SetResponseHeader(bRateLimitPolicy, p.policy)
		b := appendRateLimitField(x.Scratch(), which, r-1, resetIn)
		x.SetResponseHeader(bRateLimit, b)
		x.ScratchDone(b)
	}
	return engine.Continue
}

// limitCountScript decides a request against every limit of a policy in
// one round trip. KEYS: per limit, the current window's counter (and the
// previous one's when sliding). ARGV: sliding (0/1), the number of limits,
// then per limit: count, the counter's TTL (ms), the previous window's
// weight (millionths). It counts the request in every limit only when all
// have room, and returns {1, 0, est1, est2, ...} (the estimates with this
// request) or {0, i, est_i, cur_i, prev_i} for the first limit i without
// room (estimate without this request).
var limitCountScript = rueidis.NewLuaScript(limitCountLua)

// limitCountLoop is limitCountScript for the loop's calls.
var limitCountLoop = newLoopScript(limitCountLua)

const limitCountLua = `local sliding = ARGV[1] == '1'
local n = tonumber(ARGV[2])
local step = 1
if sliding then step = 2 end
local est = {}
for i = 1, n do
  local a = 2 + (i - 1) * 3
  local limit = tonumber(ARGV[a + 1])
  local cur = tonumber(redis.call('GET', KEYS[(i - 1) * step + 1]) or '0')
  local prev = 0
  local e = cur
  if sliding then
    prev = tonumber(redis.call('GET', KEYS[(i - 1) * step + 2]) or '0')
    e = e + math.floor(prev * tonumber(ARGV[a + 3]) / 1000000)
  end
  if e + 1 > limit then
    return {0, i - 1, e, cur, prev}
  end
  est[i] = e + 1
end
local out = {1, 0}
for i = 1, n do
  local k = KEYS[(i - 1) * step + 1]
  redis.call('INCR', k)
  if redis.call('PTTL', k) < 0 then
    redis.call('PEXPIRE', k, ARGV[2 + (i - 1) * 3 + 2])
  end
  out[i + 2] = est[i]
end
return out`

// scriptArgs builds the KEYS and ARGV of limitCountScript (and, with
// lease, limitLeaseScript) for the limits idx at now; key is the Redis key
// of the request's counters without the window suffix. KEYS: per limit,
// the current window's counter (and the previous one's when sliding).
// ARGV: sliding (0/1), the number of limits, then per limit: count, the
// counter's TTL (ms), the previous window's weight (millionths) and, with
// lease, the lease.
func (p *limitCount) scriptArgs(key string, idx []int, now int64, lease bool) (keys, args []string) {
	step, per := 1, 3
	if p.sliding {
		step = 2
	}
	if lease {
		per = 4
	}
	keys = make([]string, 0, len(idx)*step)
	args = make([]string, 2, 2+per*len(idx))
	args[0], args[1] = "0", strconv.Itoa(len(idx))
	if p.sliding {
		args[0] = "1"
	}
	for _, i := range idx {
		l := &p.limits[i]
		num, ttl, weight := p.scriptWindow(i, now)
		pre := key + ":" + strconv.Itoa(i) + ":"
		keys = append(keys, pre+strconv.FormatInt(num, 36))
		if p.sliding {
			keys = append(keys, pre+strconv.FormatInt(num-1, 36))
		}
		args = append(args, strconv.FormatInt(l.count, 10), strconv.FormatInt(ttl, 10), strconv.FormatInt(weight, 10))
		if lease {
			args = append(args, strconv.FormatInt(l.lease, 10))
		}
	}
	return keys, args
}

// scriptWindow is limit i's window at now as the scripts take it: its
// number, its counter's TTL in milliseconds and the weight of the window
// before it in millionths.
func (p *limitCount) scriptWindow(i int, now int64) (num, ttlMillis, weight int64) {
	l := &p.limits[i]
	num, start, length := l.bounds(now)
	return num, max(l.ttl(length, p.sliding).Milliseconds(), 1), (length - (now - start)) * 1_000_000 / length
}

// allLimits are the indexes of up to 8 limits.
var allLimits = []int{0, 1, 2, 3, 4, 5, 6, 7}

// decideRedis decides a request in Redis; key is the Redis key of the
// request's counters without the window suffix.
func (p *limitCount) decideRedis(ctx context.Context, key string, now int64) (countDecision, error) {
	keys, args := p.scriptArgs(key, allLimits[:len(p.limits)], now, false)
	msg, err := p.redis.Eval(ctx, limitCountScript, keys, args)
	if err != nil {
		return countDecision{}, err
	}
	vals, err := msg.AsIntSlice()
	if err != nil {
		return countDecision{}, fmt.Errorf("%w: limit-count script answered %v (%v)", redis.ErrReply, vals, err)
	}
	return p.decodeRedis(vals, now)
}

// badCountAnswer is the error of an answer of limitCountScript that is
// not one; it quotes a copy, so that vals may live on the caller's stack.
func badCountAnswer(vals []int64) error {
	return fmt.Errorf("%w: limit-count script answered %v", redis.ErrReply, slices.Clone(vals))
}

// decodeRedis reads limitCountScript's answer for a request at now.
func (p *limitCount) decodeRedis(vals []int64, now int64) (countDecision, error) {
	if len(vals) < 2 || int(vals[1]) < 0 || int(vals[1]) >= len(p.limits) {
		return countDecision{}, badCountAnswer(vals)
	}
	if vals[0] == 0 {
		if len(vals) < 5 {
			return countDecision{}, badCountAnswer(vals)
		}
		i := int(vals[1])
		l := &p.limits[i]
		_, start, length := l.bounds(now)
		return countDecision{which: i, resetIn: start + length - now,
			retryIn: retryIn(l.count, vals[3], vals[4], now-start, length)}, nil
	}
	if len(vals) != 2+len(p.limits) {
		return countDecision{}, badCountAnswer(vals)
	}
	d := countDecision{allowed: true, counted: true, remaining: -1}
	for i := range p.limits {
		if left := p.limits[i].count - vals[2+i]; d.remaining < 0 || left < d.remaining {
			_, start, length := p.limits[i].bounds(now)
			d.which, d.remaining, d.resetIn = i, left, start+length-now
		}
	}
	return d, nil
}

var (
	bRateLimitPolicy = []byte("RateLimit-Policy")
	bRateLimit       = []byte("RateLimit")
)

// callRedis asks Redis for the decision on the worker's loop (policy:
// redis with a standalone server): buf is the request's local counter key
// from counterKey, in the scratch buffer, which the command is built after.
// With eval the script itself goes (EVAL), else its SHA (EVALSHA).
func (p *limitCount) callRedis(x *engine.Ctx, buf []byte, now int64, eval bool) engine.Status {
	x.SetInt(p.calledAt, now)
	req := p.appendRedisCall(buf, buf[len(p.prefix):], now, eval)
	done := p.replied
	if eval {
		done = p.repliedEval
	}
	return p.sendLoop(x, req, len(buf), done)
}

// appendRedisCall appends the command running limitCountScript for the
// request key (without the local prefix) at now: the keys and arguments
// of scriptArgs, in RESP.
func (p *limitCount) appendRedisCall(dst, key []byte, now int64, eval bool) []byte {
	n := len(p.limits)
	keys := n
	if p.sliding {
		keys = 2 * n
	}
	dst = limitCountLoop.appendHead(dst, eval, keys, 2+3*n)
	// Each limit's window once: the keys come first, its arguments after.
	var ttls, weights [8]int64
	for i := range n {
		var num int64
		num, ttls[i], weights[i] = p.scriptWindow(i, now)
		dst = p.appendWindowKey(dst, key, i, num)
		if p.sliding {
			dst = p.appendWindowKey(dst, key, i, num-1)
		}
	}
	flag := int64(0)
	if p.sliding {
		flag = 1
	}
	dst = redis.AppendBulkInt(redis.AppendBulkInt(dst, flag), int64(n))
	for i := range n {
		dst = redis.AppendBulk(dst, p.limits[i].text)
		dst = redis.AppendBulkInt(redis.AppendBulkInt(dst, ttls[i]), weights[i])
	}
	return dst
}

// appendWindowKey appends, as a bulk string, the Redis key of limit i's
// window num for the request key, as scriptArgs names it: the request's
// Redis key and ":i:num" (base 36).
func (p *limitCount) appendWindowKey(dst, key []byte, i int, num int64) []byte {
	var suffix [24]byte
	s := append(suffix[:0], ':', byte('0'+i), ':')
	return p.appendRedisKey(dst, key, strconv.AppendInt(s, num, 36))
}

// redisReplied continues a request with Redis's decision on the loop. A
// server without the script (restarted, SCRIPT FLUSH) gets it with EVAL,
// once.
func (p *limitCount) redisReplied(x *engine.Ctx, reply []byte, err error, eval bool) engine.Status {
	now := x.Int(p.calledAt)
	if err == nil && !eval && redis.IsNoScript(reply) {
		return p.resendScript(x, p, now)
	}
	var d countDecision
	if err == nil {
		var ints [2 + 8]int64
		var vals []int64
		if vals, err = redis.AppendInts(ints[:0], reply); err == nil {
			d, err = p.decodeRedis(vals, now)
		}
	}
	p.countLoopCall(err)
	if err != nil {
		return p.redisFailed(x, err)
	}
	return p.apply(x, d, now)
}
