package policies

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/engine"
)

// Miss coalescing: one fill per key at a time per gateway. The first
// request that misses a key becomes its filler and goes upstream; the
// others that miss it meanwhile suspend (no goroutine, no polling) and
// are resumed when the filler stored the response (they answer from L1)
// or gave up (an uncacheable or failed response: they go upstream
// themselves, without storing), or when their own wait (lock_timeout)
// ends first (upstream too). A filler that never finishes cannot wedge a
// key: its fill is taken over once lock_timeout has passed.
//
// The table is the gateway's process memory, like the shared dicts (which
// are in-process too): a dict entry could hold the lock, but not the
// waiters to wake, so the table does both. It is taken only on misses, in
// 64 shards by key hash; hits never touch it. Fills are found by the
// key's 64-bit hash, not the key (no string made per miss): two keys of
// one hash would share a fill, and a waiter woken by the other key's
// store finds its own key still missing and goes upstream — correct, only
// less coalesced. Fill records are reused, so a miss allocates nothing.

type fillTable struct {
	shards [64]fillShard
}

type fillShard struct {
	mu    sync.Mutex
	fills map[uint64]*cacheFill
	spare []*cacheFill
	_     [24]byte
}

type cacheFill struct {
	owner   *cacheReq // the filler's request state
	started time.Time
	waiters []cacheWaiter
}

type cacheWaiter struct {
	r     engine.Resumer
	timer *time.Timer
}

func (t *fillTable) shard(key []byte) (*fillShard, uint64) {
	h := xxhash.Sum64(key)
	return &t.shards[h&63], h
}

// lead makes st the filler of key when nobody fills it (or the filler
// overran stale); otherwise, when wait is set, it registers a waiter whose
// suspension resumes with wake (and after timeout, with wake too). It
// reports whether st leads; a false with wait false says "someone fills".
func (t *fillTable) lead(key []byte, st *cacheReq, x *engine.Ctx, wait bool, timeout time.Duration, wake func(*engine.Ctx) engine.Status) (leads bool) {
	s, h := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fills == nil {
		s.fills = make(map[uint64]*cacheFill)
	}
	f := s.fills[h]
	if f != nil && time.Since(f.started) > timeout {
		// Abandoned: wake its waiters and take over.
		f.wakeAll(wake)
		f.owner, f.started = st, time.Now()
		return true
	}
	if f == nil {
		if n := len(s.spare); n > 0 {
			f = s.spare[n-1]
			s.spare = s.spare[:n-1]
		} else {
			f = new(cacheFill)
		}
		f.owner, f.started = st, time.Now()
		s.fills[h] = f
		return true
	}
	if wait {
		r := x.Suspend()
		w := cacheWaiter{r: r}
		w.timer = time.AfterFunc(timeout, func() { r.Resume(wake) })
		f.waiters = append(f.waiters, w)
	}
	return false
}

// filling says whether someone fills key now.
func (t *fillTable) filling(key []byte) bool {
	s, h := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.fills[h]
	return ok
}

// done ends st's fill of key and wakes its waiters with wake.
func (t *fillTable) done(key []byte, st *cacheReq, wake func(*engine.Ctx) engine.Status) {
	s, h := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fills[h]
	if f == nil || f.owner != st {
		return // taken over
	}
	delete(s.fills, h)
	f.wakeAll(wake)
	f.owner = nil
	s.spare = append(s.spare, f)
}

func (f *cacheFill) wakeAll(wake func(*engine.Ctx) engine.Status) {
	for i, w := range f.waiters {
		w.timer.Stop()
		w.r.Resume(wake)
		f.waiters[i] = cacheWaiter{}
	}
	f.waiters = f.waiters[:0]
}

// The fleet-wide fill lock (lock_scope: fleet, with l2: redis): the fill
// table above coalesces the misses of one gateway; this lock coalesces the
// gateways. A gateway's filler (the one request of the gateway that goes
// on after the table) that misses L2 too tries SET NX PX lock_timeout on
// the key's lock, in the same offload as the L2 read. The winner goes
// upstream, writes L2, then deletes the lock (only if still its own: the
// value is a random token). A loser waits on a timer of lock_poll — no
// goroutine held, the loop free — then reads L2 and tries the lock again
// in one offload: an entry is an L2 hit; a lock that is gone (its holder
// gave up, or died and the lock expired) is taken over, by the first
// gateway to find it so; once lock_timeout has passed since its wait
// began, the loser goes upstream itself. Any Redis failure ends the wait
// at once: the request goes upstream, as without the lock. The gateway's
// other misses of the key wait in the fill table as usual.

// cacheLockRedisPrefix starts the lock keys, followed by the L1 key. It is
// not under cacheRedisPrefix, so purges do not see locks.
const cacheLockRedisPrefix = "sluice:cache-lock:"

// defaultCacheLockPoll is how often a gateway waiting for another's fill
// looks L2 up.
const defaultCacheLockPoll = 20 * time.Millisecond

// l2Result is what the off-loop part of a lookup found.
type l2Result struct {
	val    []byte // a fresh entry (Redis's bytes, now ours)
	found  bool
	err    error // a Redis failure: the request goes upstream
	locked bool  // this request took the fleet lock: it fills
	busy   bool  // another holds the fleet lock
}

// readL2 gets key, bounded by l2_timeout; found only when fresh (at the
// clock of the goroutine: the worker checks again at its own).
func (p *cachePolicy) readL2(ctx context.Context, key string) l2Result {
	ctx, cancel := context.WithTimeout(ctx, p.l2Timeout)
	val, found, err := p.redis.Get(ctx, key)
	cancel()
	if found {
		e, derr := decodeCacheEntry(val)
		found = derr == nil && time.Now().UnixNano() < e.freshUntil
	}
	return l2Result{val: val, found: found, err: err}
}

// tryLock takes the fleet lock for lock_timeout, bounded by l2_timeout.
// Off the loop.
func (p *cachePolicy) tryLock(ctx context.Context, lockKey, token string) (bool, error) {
	lctx, cancel := context.WithTimeout(ctx, p.l2Timeout)
	locked, err := p.redis.SetNXPX(lctx, lockKey, []byte(token), p.lockTimeout)
	cancel()
	if locked && ctx.Err() != nil {
		// The request is over (its resumption will not run): the lock
		// must not wait for its expiry.
		p.unlockL2(lockKey, token)
	}
	return locked, err
}

// waitFleet suspends a filler whose key another gateway fills until its
// next look at L2, lock_poll from now (less when lock_timeout ends
// sooner). It reports false, counted, when lock_timeout has passed since
// the wait began: the request then goes upstream.
func (p *cachePolicy) waitFleet(x *engine.Ctx, st *cacheReq) (engine.Status, bool) {
	now := x.Now()
	if st.fleetUntil == 0 {
		st.fleetUntil = now + int64(p.lockTimeout)
		p.count(x, ccFleetWaits)
	}
	left := time.Duration(st.fleetUntil - now)
	if left <= 0 {
		p.count(x, ccFleetTimeouts)
		return engine.Continue, false
	}
	r := x.Suspend()
	time.AfterFunc(min(left, p.lockPoll), func() { r.Resume(p.pollFleet) })
	return engine.Suspend, true
}

// pollFleet is a waiting filler's next look, back on its worker.
func (p *cachePolicy) pollFleet(x *engine.Ctx) engine.Status {
	st, ok := engine.Get(x, p.state)
	if !ok || st == nil {
		return engine.Continue
	}
	return p.askL2(x, st) // at the wait's end too: one last look, then upstream
}

// newLockToken is a lock's value: random, so that a holder deletes only
// its own lock, never one a gateway took after the first expired.
func newLockToken() string {
	return strconv.FormatUint(rand.Uint64(), 36) + "." + strconv.FormatUint(rand.Uint64(), 36)
}

// cacheUnlockScript deletes KEYS[1] when it still holds ARGV[1].
var cacheUnlockScript = rueidis.NewLuaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// unlockL2 deletes the lock if it is still token's. Blocking: call it
// off the loop. A failure leaves the lock to expire after lock_timeout.
func (p *cachePolicy) unlockL2(lockKey, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), cacheL2WriteTimeout)
	defer cancel()
	_, _ = p.redis.Eval(ctx, cacheUnlockScript, []string{lockKey}, []string{token})
}

// releaseFleetLock gives the request's fleet lock back, from the offload
// pool (a full pool leaves it to expire). Called wherever a filler ends
// without handing the lock to its L2 write.
func (p *cachePolicy) releaseFleetLock(x *engine.Ctx, st *cacheReq) {
	if !st.lockHeld {
		return
	}
	st.lockHeld = false
	lockKey, token := st.lockKey, st.lockToken
	x.Go(func() { p.unlockL2(lockKey, token) })
}
