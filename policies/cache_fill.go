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
// 64 shards by key hash; hits never touch it.

type fillTable struct {
	shards [64]fillShard
}

type fillShard struct {
	mu    sync.Mutex
	fills map[string]*cacheFill
	_     [40]byte
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

func (t *fillTable) shard(key []byte) *fillShard {
	return &t.shards[xxhash.Sum64(key)&63]
}

// lead makes st the filler of key when nobody fills it (or the filler
// overran stale); otherwise, when wait is set, it registers a waiter whose
// suspension resumes with wake (and after timeout, with wake too). It
// reports whether st leads; a false with wait false says "someone fills".
func (t *fillTable) lead(key []byte, st *cacheReq, x *engine.Ctx, wait bool, timeout time.Duration, wake func(*engine.Ctx) engine.Status) (leads bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fills == nil {
		s.fills = make(map[string]*cacheFill)
	}
	f := s.fills[string(key)]
	if f != nil && time.Since(f.started) > timeout {
		// Abandoned: wake its waiters and take over.
		f.wakeAll(wake)
		f = nil
	}
	if f == nil {
		s.fills[string(key)] = &cacheFill{owner: st, started: time.Now()}
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
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.fills[string(key)]
	return ok
}

// done ends st's fill of key and wakes its waiters with wake.
func (t *fillTable) done(key []byte, st *cacheReq, wake func(*engine.Ctx) engine.Status) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fills[string(key)]
	if f == nil || f.owner != st {
		return // taken over
	}
	delete(s.fills, string(key))
	f.wakeAll(wake)
}

func (f *cacheFill) wakeAll(wake func(*engine.Ctx) engine.Status) {
	for _, w := range f.waiters {
		w.timer.Stop()
		w.r.Resume(wake)
	}
	f.waiters = nil
}
