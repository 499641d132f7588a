package policies

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/shm"
)

// limit-count with policy: redis-lease. Redis holds the same counters as
// with policy: redis (same keys, same TTLs), but a gateway does not count
// each request there: it takes a lease — up to `lease` requests of a
// window, counted in Redis at once by one script — and spends it from the
// shared dict, one lock-free atomic decrement per limit and request.
//
// Because a lease is counted in Redis before any of it is spent, and a
// lease belongs to one window (the window's number is part of its dict
// key), the gateways together never admit more than count in a fixed
// window, as with policy: redis. What a lease costs is the other way: the
// requests a gateway holds but does not spend cannot be admitted by
// another gateway until they are given back (when the lease stays unused
// for leaseIdle, or the policy is cleaned up) — at most about 1.5 × lease
// per gateway at a time.
//
// The request path: take one request from the balance of every limit
// (IncrExisting -1; a result below zero is taken back). When every limit
// had one, the request passes; the request that brings a balance down to
// its low-water mark (lease/2) starts the next lease in the background, so
// that a steady stream of requests never waits. When a balance is empty,
// the request suspends on the lease being fetched (one fetch per key at a
// time; the requests that need it wait together) and retries when it
// comes. When Redis had nothing left, a marker in the dict refuses the
// requests of that window on this gateway without asking Redis again
// (rechecked every leaseRecheck, since other gateways give leases back).
//
// Dict entries per key, limit and window ("ll|IDENTITY|KEY|I|NUM"): the
// balance, and with the suffix "|r" what Redis had left after the last
// lease (for X-RateLimit-Remaining), "|x" when Redis had nothing left
// (until when no request can pass).

const (
	// leaseDownFor is how long after a failed Redis call the requests that
	// need a lease fail (open or closed) at once instead of asking Redis
	// again: Redis being down costs one call per key per this, and limits
	// count again at most this long after Redis answers.
	leaseDownFor = 200 * time.Millisecond
	// leaseRecheck bounds how long an exhausted-window marker refuses
	// without asking Redis: other gateways may give leases back.
	leaseRecheck = time.Second
	// leaseIdle is how long a lease stays untouched before it is given
	// back for the other gateways to use.
	leaseIdle = time.Second
)

// errLeaseStore is a lease Redis granted that the shared dict could not
// hold (a dict far too small): the request passes uncounted, like the
// local policy's when its dict fails.
var errLeaseStore = errors.New("the shared dict could not hold a lease")

// compileLeases checks and sets the limits' lease sizes: lease (the top
// level, the default of every limit) and limits[i].lease.
func (p *limitCount) compileLeases(spec config.PolicySpec, top int64, specs []limitSpec) error {
	if !p.lease {
		if top != 0 {
			return config.FieldError(spec, "lease", "is for policy: redis-lease")
		}
		for i, l := range specs {
			if l.Lease != 0 {
				return config.FieldError(spec, "limits["+itoa(i)+"].lease", "is for policy: redis-lease")
			}
		}
		return nil
	}
	for i := range p.limits {
		l := &p.limits[i]
		at, n := "lease", top
		if i < len(specs) && specs[i].Lease != 0 {
			at, n = "limits["+itoa(i)+"].lease", specs[i].Lease
		}
		if n == 0 {
			n = max(l.count/100, 1)
		}
		if n < 1 || n > l.count {
			return config.FieldError(spec, at, fmt.Sprintf("must be between 1 and the limit's count (%d), got %d", l.count, n))
		}
		l.lease, l.low = n, n/2
	}
	p.book = acquireLeaseBook(p.dict, p.identity, p.redis, p.shortestWindow())
	return nil
}

// shortestWindow is the length of the policy's shortest window.
func (p *limitCount) shortestWindow() time.Duration {
	w := time.Duration(0)
	for _, l := range p.limits {
		length := time.Duration(l.window)
		if l.month {
			length = 28 * 24 * time.Hour
		}
		if w == 0 || length < w {
			w = length
		}
	}
	return w
}

// Cleanup gives this gateway's unused leases back to Redis when no newer
// config version uses the same leases (the same identity and dict). It
// runs off the loops.
func (p *limitCount) Cleanup() {
	if p.book != nil {
		p.book.release()
	}
}

// spendOrLease decides a request of redis-lease: from the leases in the
// dict, or after fetching one. buf holds the request's dict key (from
// counterKey) in x.Scratch().
func (p *limitCount) spendOrLease(x *engine.Ctx, buf []byte, now int64) engine.Status {
	base := len(buf)
	d, need, low, buf := p.spendLease(buf, base, now)
	if need {
		if now < p.book.downUntil.Load() {
			x.ScratchDone(buf)
			return p.redisFailed(x, p.book.lastErr())
		}
		st := p.book.fetch(p, x, buf[:base], now, true)
		x.ScratchDone(buf)
		return st
	}
	if low && now >= p.book.downUntil.Load() {
		p.book.fetch(p, x, buf[:base], now, false)
	}
	x.ScratchDone(buf)
	return p.apply(x, d, now)
}

// spendLease takes one request from the lease of every limit. It returns
// the decision (allowed, or refused by a limit whose window Redis has no
// more of), or need when a balance is empty and a lease must be fetched
// (nothing is then taken); low says a balance reached its low-water mark.
// buf[:base] is the key; the grown buffer is returned for reuse.
func (p *limitCount) spendLease(buf []byte, base int, now int64) (d countDecision, need, low bool, _ []byte) {
	d = countDecision{allowed: true, counted: true, remaining: -1}
	var taken uint8 // the limits that gave one, by bit
	for i := range p.limits {
		l := &p.limits[i]
		num, start, length := l.bounds(now)
		buf = appendWindowSuffix(buf[:base], i, num)
		n, err := p.dict.IncrExisting(buf, -1)
		if err == nil && n >= 0 {
			taken |= 1 << i
			low = low || n == l.low
			if p.headers {
				left := n
				k := len(buf)
				if v, ok := p.dict.Get(append(buf, '|', 'r'), nil); ok {
					left += v.Int
				}
				buf = buf[:k]
				if d.remaining < 0 || left < d.remaining {
					d.which, d.remaining, d.resetIn = i, left, start+length-now
				}
			}
			continue
		}
		if err == nil {
			_, _ = p.dict.IncrExisting(buf, 1) // the overdraft back
		}
		if v, ok := p.dict.Get(append(buf, '|', 'x'), nil); ok && v.Int > now {
			p.giveBack(buf, base, now, taken)
			return countDecision{which: i, resetIn: start + length - now, retryIn: v.Int - now}, false, false, buf
		}
		need = true
		// Go on: a later limit may refuse without Redis.
	}
	if need {
		p.giveBack(buf, base, now, taken)
		return countDecision{}, true, false, buf
	}
	if d.remaining < 0 { // headers off: report nothing precise
		d.remaining = 0
	}
	return d, false, low, buf
}

// giveBack returns the request taken from the leases of the limits whose
// bit is set in taken.
func (p *limitCount) giveBack(buf []byte, base int, now int64, taken uint8) {
	for i := range p.limits {
		if taken&(1<<i) == 0 {
			continue
		}
		num, _, _ := p.limits[i].bounds(now)
		buf = appendWindowSuffix(buf[:base], i, num)
		_, _ = p.dict.IncrExisting(buf, 1)
	}
}

// retryLease continues a request that waited for a lease.
func (p *limitCount) retryLease(x *engine.Ctx) engine.Status {
	buf, st, ok := p.counterKey(x)
	if !ok {
		return st
	}
	return p.spendOrLease(x, buf, x.Now())
}

// leaseFailed continues the requests that waited for a lease that failed.
func (p *limitCount) leaseFailed(x *engine.Ctx, err error) engine.Status {
	if errors.Is(err, errLeaseStore) {
		p.results.Inc(x, limitFallback)
		return engine.Continue
	}
	return p.redisFailed(x, err)
}

// limitLeaseScript takes a lease of every limit it is given. KEYS: per
// limit, the current window's counter (and the previous one's when
// sliding) — the keys of limitCountScript. ARGV: sliding (0/1), the number
// of limits, then per limit: count, the counter's TTL (ms), the previous
// window's weight (millionths), the lease. Per limit it takes
// min(lease, what is left), counts it, and returns {taken, left after,
// the counter after, the previous window's counter}.
var limitLeaseScript = rueidis.NewLuaScript(`local sliding = ARGV[1] == '1'
local n = tonumber(ARGV[2])
local step = 1
if sliding then step = 2 end
local out = {}
for i = 1, n do
  local a = 2 + (i - 1) * 4
  local count = tonumber(ARGV[a + 1])
  local k = KEYS[(i - 1) * step + 1]
  local cur = tonumber(redis.call('GET', k) or '0')
  local prev = 0
  local est = cur
  if sliding then
    prev = tonumber(redis.call('GET', KEYS[(i - 1) * step + 2]) or '0')
    est = est + math.floor(prev * tonumber(ARGV[a + 3]) / 1000000)
  end
  local take = math.min(tonumber(ARGV[a + 4]), count - est)
  if take > 0 then
    cur = redis.call('INCRBY', k, take)
    if redis.call('PTTL', k) < 0 then
      redis.call('PEXPIRE', k, ARGV[a + 2])
    end
  else
    take = 0
  end
  local left = count - est - take
  if left < 0 then left = 0 end
  out[#out + 1] = take
  out[#out + 1] = left
  out[#out + 1] = cur
  out[#out + 1] = prev
end
return out`)

// limitLeaseReturn gives back ARGV[1] unused requests of a lease to the
// counter KEYS[1], never below zero (the counter may have expired, or
// Redis restarted, since the lease was taken).
var limitLeaseReturn = rueidis.NewLuaScript(`local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local r = math.min(v, tonumber(ARGV[1]))
if r > 0 then redis.call('DECRBY', KEYS[1], r) end
return r`)

// takeLease fetches, at now, a lease of every limit of the key local (the
// dict key without window suffix) whose balance is at or below its
// low-water mark and whose window Redis has not refused, and credits the
// dict. It runs off the loop.
func (p *limitCount) takeLease(bk *leaseBook, local string, now int64) error {
	buf := make([]byte, 0, len(local)+32)
	buf = append(buf, local...)
	base := len(buf)
	var wantBuf [8]int
	want := wantBuf[:0] // the limits to lease
	for i := range p.limits {
		l := &p.limits[i]
		num, _, _ := l.bounds(now)
		buf = appendWindowSuffix(buf[:base], i, num)
		if v, ok := p.dict.Get(buf, nil); ok && v.Int > l.low {
			continue
		}
		if v, ok := p.dict.Get(append(buf, '|', 'x'), nil); ok && v.Int > now {
			continue
		}
		want = append(want, i)
	}
	if len(want) == 0 {
		return nil
	}
	step := 1
	if p.sliding {
		step = 2
	}
	keys, args := p.scriptArgs(p.redisKeyPf+local[len(p.prefix):]+"}", want, now, true)
	msg, err := p.redis.Eval(context.Background(), limitLeaseScript, keys, args)
	if err != nil {
		bk.failed(err)
		return err
	}
	vals, err := msg.AsIntSlice()
	if err != nil || len(vals) != 4*len(want) {
		err = fmt.Errorf("%w: limit-count lease script answered %v (%v)", redis.ErrReply, vals, err)
		bk.failed(err)
		return err
	}
	var stored error
	for j, i := range want {
		l := &p.limits[i]
		num, start, length := l.bounds(now)
		taken, left, cur, prev := vals[4*j], vals[4*j+1], vals[4*j+2], vals[4*j+3]
		buf = appendWindowSuffix(buf[:base], i, num)
		ttl := l.ttl(length, false)
		// What Redis has left first, the lease then: a request in between
		// reports a lease fewer rather than one more.
		k := len(buf)
		_ = p.dict.Set(append(buf, '|', 'r'), shm.IntValue(left), ttl)
		buf = buf[:k]
		if taken > 0 {
			if _, err := p.dict.Incr(buf, taken, 0, ttl); err != nil {
				stored = errLeaseStore
				bk.giveBackNow(p.redis, keys[j*step], taken)
				continue
			}
			bk.hold(string(buf), keys[j*step], start+length, length, p.sliding, p.redis)
		}
		if left == 0 {
			until := now + retryIn(l.count, cur, prev, now-start, length)
			_ = p.dict.Set(append(buf, '|', 'x'), shm.IntValue(until), min(time.Duration(until-now), leaseRecheck))
		}
	}
	return stored
}
