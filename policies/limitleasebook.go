package policies

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
	"github.com/sluice-gw/sluice/shm"
)

// leaseBook is one gateway's side of the redis-lease limits of one
// identity: the leases being fetched (so that the requests needing one
// wait for the same fetch), the leases held (to give them back) and
// whether Redis failed lately. The balances themselves are in the shared
// dict. One book per (dict, identity), shared by the config versions that
// use them: a reload keeps the leases, the last Cleanup gives them back.
//
// Only the lease path (a fetch, at most once per lease of a key) and the
// janitor take mu; the request path reads downUntil. Safe for concurrent
// use.
type leaseBook struct {
	key  leaseBookKey
	dict weak.Pointer[shm.Dict] // the book must not keep a dropped dict alive
	tick time.Duration          // the janitor's period

	downUntil atomic.Int64 // unix ns: until then, requests needing a lease fail at once
	downErr   atomic.Pointer[error]

	mu       sync.Mutex
	refs     int           // policies (of every live config version) using the book
	redis    *redis.Client // the newest config's client, for giving leases back
	inflight map[string]*leaseFetch
	held     map[string]*heldLease // by dict key of the balance
	sweeping bool                  // the janitor runs
	closed   bool                  // released by the last policy: leases go back at once
}

type leaseBookKey struct {
	dict     weak.Pointer[shm.Dict]
	identity string
}

// leaseFetch is a lease being fetched; waiters are the requests waiting
// for it.
type leaseFetch struct {
	waiters []leaseWaiter
}

// leaseWaiter is a request waiting for a lease and the policy that
// decides it once the lease is in (during a reload, that of another config
// version than the fetch's).
type leaseWaiter struct {
	r engine.Resumer
	p *limitCount
}

// heldLease is a lease this gateway took: where to give it back, when its
// window ends, and how long its balance has not moved.
type heldLease struct {
	redisKey string
	end      int64 // unix ns: the window's end
	length   int64
	sliding  bool
	lastBal  int64
	still    int // janitor ticks the balance did not move
}

// leaseBooks are the process's books. A book leaves when its last policy is
// cleaned up (or its dict is gone).
var leaseBooks struct {
	mu sync.Mutex
	m  map[leaseBookKey]*leaseBook
}

// leaseSweepers counts the running janitors (tests check they end).
var leaseSweepers atomic.Int64

// acquireLeaseBook returns the book of (dict, identity), made on first use,
// with one more reference. window is the policy's shortest window: the
// janitor looks at the leases a few times per window (at most every
// second, at least every 50ms).
func acquireLeaseBook(dict *shm.Dict, identity string, rc *redis.Client, window time.Duration) *leaseBook {
	key := leaseBookKey{dict: weak.Make(dict), identity: identity}
	leaseBooks.mu.Lock()
	defer leaseBooks.mu.Unlock()
	if leaseBooks.m == nil {
		leaseBooks.m = make(map[leaseBookKey]*leaseBook)
	}
	for k := range leaseBooks.m {
		if k.dict.Value() == nil { // a stopped server's, never cleaned up
			delete(leaseBooks.m, k)
		}
	}
	bk := leaseBooks.m[key]
	if bk == nil {
		bk = &leaseBook{key: key, dict: key.dict, tick: min(max(window/4, 50*time.Millisecond), time.Second),
			inflight: make(map[string]*leaseFetch), held: make(map[string]*heldLease)}
		leaseBooks.m[key] = bk
	}
	bk.mu.Lock()
	bk.refs++
	bk.redis = rc
	bk.mu.Unlock()
	return bk
}

// release drops a reference; the last one gives every lease back (those
// of windows still counting) and retires the book.
func (bk *leaseBook) release() {
	leaseBooks.mu.Lock()
	bk.mu.Lock()
	bk.refs--
	last := bk.refs == 0
	var back []leaseReturn
	if last {
		bk.closed = true
		if leaseBooks.m[bk.key] == bk {
			delete(leaseBooks.m, bk.key)
		}
		now := time.Now().UnixNano()
		for k, h := range bk.held {
			if now < h.end || (h.sliding && now < h.end+h.length) {
				back = append(back, leaseReturn{dictKey: k, redisKey: h.redisKey})
			}
		}
		clear(bk.held)
	}
	rc := bk.redis
	bk.mu.Unlock()
	leaseBooks.mu.Unlock()
	bk.giveBackAll(rc, back)
}

// failed records a failed Redis call: for leaseDownFor, requests needing
// a lease fail at once.
func (bk *leaseBook) failed(err error) {
	bk.downErr.Store(&err)
	bk.downUntil.Store(time.Now().UnixNano() + int64(leaseDownFor))
}

// lastErr is the error of the last failed call.
func (bk *leaseBook) lastErr() error {
	if e := bk.downErr.Load(); e != nil {
		return *e
	}
	return redis.ErrUnavailable
}

// fetch has a lease of key (the dict key without window suffix) fetched
// for p, unless one is already being fetched. With wait, the request
// suspends until the fetch is done and then retries: fetch returns
// Suspend, or Done after answering 503 when no goroutine is free. Without
// wait (a prefetch), the request goes on.
func (bk *leaseBook) fetch(p *limitCount, x *engine.Ctx, key []byte, now int64, wait bool) engine.Status {
	bk.mu.Lock()
	defer bk.mu.Unlock()
	f := bk.inflight[string(key)]
	if f == nil {
		f = new(leaseFetch)
		local := string(key)
		if !x.Go(func() { p.runFetch(bk, local, f, now) }) {
			if !wait {
				return engine.Continue
			}
			x.RespondError(503, "gateway busy: no goroutine for policy work")
			return engine.Done
		}
		bk.inflight[local] = f
	}
	if !wait {
		return engine.Continue
	}
	f.waiters = append(f.waiters, leaseWaiter{r: x.Suspend(), p: p})
	return engine.Suspend
}

// runFetch fetches the lease off the loop and resumes the waiters: they
// retry (and find the lease), or fail as the policy says.
func (p *limitCount) runFetch(bk *leaseBook, local string, f *leaseFetch, now int64) {
	err := p.takeLease(bk, local, now)
	bk.mu.Lock()
	delete(bk.inflight, local)
	waiters := f.waiters
	f.waiters = nil
	bk.mu.Unlock()
	for _, w := range waiters {
		if err != nil {
			w.r.Resume(func(x *engine.Ctx) engine.Status { return w.p.leaseFailed(x, err) })
		} else {
			w.r.Resume(w.p.retryLease)
		}
	}
}

// hold records a lease taken for the dict key dictKey of the Redis counter
// redisKey, and starts the janitor if it sleeps. A book already released
// gives the lease back at once.
func (bk *leaseBook) hold(dictKey, redisKey string, end, length int64, sliding bool, rc *redis.Client) {
	bk.mu.Lock()
	if bk.closed {
		bk.mu.Unlock()
		bk.giveBackAll(rc, []leaseReturn{{dictKey: dictKey, redisKey: redisKey}})
		return
	}
	h := bk.held[dictKey]
	if h == nil {
		h = &heldLease{redisKey: redisKey, end: end, length: length, sliding: sliding, lastBal: -1}
		bk.held[dictKey] = h
	}
	h.still = 0
	start := !bk.sweeping
	bk.sweeping = true
	bk.mu.Unlock()
	if start {
		leaseSweepers.Add(1)
		go bk.janitor()
	}
}

// janitor gives back the leases of ended windows (sliding ones, whose
// count still weighs in the next window) and those unused for leaseIdle,
// and ends when the book holds nothing.
func (bk *leaseBook) janitor() {
	defer leaseSweepers.Add(-1)
	t := time.NewTicker(bk.tick)
	defer t.Stop()
	for range t.C {
		if !bk.sweep(time.Now().UnixNano()) {
			return
		}
	}
}

// leaseReturn is a lease to give back: its balance's dict key and its
// Redis counter.
type leaseReturn struct{ dictKey, redisKey string }

// sweep is one pass of the janitor at now; false ends it.
func (bk *leaseBook) sweep(now int64) bool {
	d := bk.dict.Value()
	idleTicks := int((leaseIdle + bk.tick - 1) / bk.tick)
	bk.mu.Lock()
	if bk.closed || len(bk.held) == 0 || d == nil {
		bk.sweeping = false
		bk.mu.Unlock()
		return false
	}
	var back []leaseReturn
	for k, h := range bk.held {
		if now >= h.end {
			if h.sliding && now < h.end+h.length {
				back = append(back, leaseReturn{dictKey: k, redisKey: h.redisKey})
			}
			delete(bk.held, k)
			continue
		}
		bal := int64(0)
		if v, ok := d.GetString(k, nil); ok {
			bal = v.Int
		}
		if bal != h.lastBal {
			h.lastBal, h.still = bal, 0
			continue
		}
		if h.still++; h.still >= idleTicks {
			if bal > 0 {
				back = append(back, leaseReturn{dictKey: k, redisKey: h.redisKey})
			}
			delete(bk.held, k)
		}
	}
	rc := bk.redis
	bk.mu.Unlock()
	bk.giveBackAll(rc, back)
	return true
}

// giveBackAll takes the unspent balance of each lease out of the dict and
// gives it back to Redis. After a failed call it stops: the rest is lost
// for their windows (fewer admitted, never more).
func (bk *leaseBook) giveBackAll(rc *redis.Client, back []leaseReturn) {
	d := bk.dict.Value()
	if d == nil || rc == nil {
		return
	}
	for _, r := range back {
		n := takeBalance(d, r.dictKey)
		if n <= 0 {
			continue
		}
		if !bk.giveBackNow(rc, r.redisKey, n) {
			return
		}
	}
}

// giveBackNow gives n requests back to the Redis counter key.
func (bk *leaseBook) giveBackNow(rc *redis.Client, key string, n int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := rc.Eval(ctx, limitLeaseReturn, []string{key}, []string{strconv.FormatInt(n, 10)}); err != nil {
		bk.failed(err)
		return false
	}
	return true
}

// takeBalance takes the whole balance at key out of the dict, racing
// with requests spending it: as a request does, it takes what it can and
// puts back what it overdrew, so that no request is both spent and given
// back.
func takeBalance(d *shm.Dict, key string) int64 {
	v, ok := d.GetString(key, nil)
	if !ok || v.Int <= 0 {
		return 0
	}
	n, err := d.IncrString(key, -v.Int, 0, time.Second)
	if err != nil {
		return 0
	}
	if n < 0 {
		over := min(v.Int, -n)
		_, _ = d.IncrString(key, over, 0, time.Second)
		return v.Int - over
	}
	return v.Int
}
