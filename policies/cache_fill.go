package policies

import (
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

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
