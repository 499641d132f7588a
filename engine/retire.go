package engine

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Retiring a config version: once a newer snapshot is in force and no
// request runs on the old one any more, the old one's policies get their
// Cleanup (Cleaner). Counting requests per snapshot with an atomic would
// put a shared cache line on every request; instead each worker counts
// the requests it runs on its current snapshot in a plain field, and only
// the snapshots it left behind are tracked in a short list. Swap asks
// every worker to report when it is done with the old snapshot; the last
// report runs the cleanup.

// retirement is a snapshot's side of it.
type retirement struct {
	pending atomic.Int32 // workers that have not reported yet
	done    atomic.Bool  // cleanup ran (or a refused compile cleaned up)
}

// oldSnapshot is a snapshot a worker still has requests on.
type oldSnapshot struct {
	snap     *Snapshot
	live     int
	retiring bool // Swap asked for a report
}

// beginOnSnapshot counts a request starting on s.
func (w *worker) beginOnSnapshot(s *Snapshot) {
	if s != w.curSnap {
		w.leaveCurrent()
		w.curSnap = s
	}
	w.curLive++
}

// leaveCurrent moves the current snapshot to the old list when requests
// still run on it.
func (w *worker) leaveCurrent() {
	if w.curSnap != nil && w.curLive > 0 {
		w.oldSnaps = append(w.oldSnaps, oldSnapshot{snap: w.curSnap, live: w.curLive})
	}
	w.curSnap, w.curLive = nil, 0
}

// endRequestOnSnapshot counts a request on s ending.
func (w *worker) endRequestOnSnapshot(s *Snapshot) {
	if s == nil {
		return
	}
	if s == w.curSnap {
		w.curLive--
		return
	}
	for i := range w.oldSnaps {
		o := &w.oldSnaps[i]
		if o.snap != s {
			continue
		}
		o.live--
		if o.live == 0 {
			retiring := o.retiring
			w.oldSnaps = append(w.oldSnaps[:i], w.oldSnaps[i+1:]...)
			if retiring {
				s.workerDone()
			}
		}
		return
	}
}

// retireSnapshot is Swap's question to the worker: report when no request
// of yours runs on s.
func (w *worker) retireSnapshot(s *Snapshot) {
	if s == w.curSnap {
		w.leaveCurrent()
	}
	for i := range w.oldSnaps {
		if w.oldSnaps[i].snap == s {
			w.oldSnaps[i].retiring = true
			return
		}
	}
	s.workerDone()
}

// startRetiring is called by Swap for the snapshot it replaced.
func (s *Server) startRetiring(old *Snapshot) {
	workers := *s.workers.Load()
	old.retire.pending.Store(int32(len(workers)) + 1)
	for _, w := range workers {
		if err := w.execute(func() { w.retireSnapshot(old) }); err != nil {
			old.workerDone() // the loop is gone, and its requests with it
		}
	}
	old.workerDone() // Swap's own share: no worker at all still retires it
}

// ReleasePolicies is the last step of a stop, once Shutdown has returned
// and no request runs any more: the policies of the version in force get
// their Cleanup, as a newer version would have given them on replacing it
// (limit leases go back to Redis, goroutines and files close). The server
// must not serve again after it, nor its compiler compile a version that
// keeps those policies.
func (s *Server) ReleasePolicies() {
	if snap := s.snap.Load(); snap != nil {
		snap.cleanup()
	}
}

// workerDone records one worker's report; the last one cleans up.
func (s *Snapshot) workerDone() {
	if s.retire.pending.Add(-1) == 0 {
		go s.cleanup()
	}
}

// cleanup retires the snapshot, once: the policies of the sets no other
// live version has get their Cleanup (setLives).
func (s *Snapshot) cleanup() {
	if s.retire.done.Swap(true) {
		return
	}
	if s.compiler != nil {
		s.compiler.lives.retire(s)
	}
	if s.redis != nil && s.compiler != nil && !s.compiler.isCurrentRedis(s.redis) {
		s.redis.Close() // a newer config has a client of its own
	}
}

// policySet is policies compiled together (a route's own, or the global
// ones) and shared by every config version that keeps them: an edit of
// one route leaves the others' policies, and their state, in place. The
// versions that have a set are consecutive, from the one that built it to
// the one before the first that does not keep it; once every one of them
// has retired, its policies get their Cleanup.
type policySet struct {
	policies []Policy
	ids      []string // the policies' identities (a route's or the globals')
	// The versions that have it: born to until-1; until is 0 while the
	// newest version has it. Written under setLives.mu.
	born, until uint64
}

// setLives is a compiler's record of which policy sets may still be in
// use. An edit of one route of 10,000 must cost one route, and that holds
// for retiring a version too: counting each version's references on each
// of its sets (as this did before) was two passes over 10,000 sets per
// change, an atomic add on a cache line of its own each time, one of
// them on the goroutine that retires the old version, at the event loops'
// priority. Instead a commit notes which sets it dropped (a handful for an
// edit, every set for a reload), and a retirement checks only those.
type setLives struct {
	mu      sync.Mutex
	live    []uint64     // committed versions not retired, ascending
	newest  uint64       // the last committed version
	dropped []*policySet // sets the newest version does not have, not yet cleaned up
}

// commit records version v: it has the sets it built (created) and does not
// have those of the last version it dropped.
func (l *setLives) commit(v uint64, created, dropped []*policySet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, set := range created {
		set.born = v
	}
	for _, set := range dropped {
		if set.until == 0 { // a set may be listed twice (unnamed routes)
			set.until = v
			l.dropped = append(l.dropped, set)
		}
	}
	l.live = append(l.live, v)
	l.newest = v
}

// retire records that no request runs on s any more, and cleans up the
// sets no live version has. Retiring the newest version (a stop) drops all
// of its sets.
func (l *setLives) retire(s *Snapshot) {
	l.mu.Lock()
	v := s.Version
	if v == l.newest {
		drop := func(set *policySet) {
			if set != nil && set.until == 0 {
				set.until = v + 1
				l.dropped = append(l.dropped, set)
			}
		}
		for _, r := range s.routes.All() {
			if r != nil {
				drop(r.own)
			}
		}
		drop(s.globals)
		drop(s.consumerSet)
	}
	if i := sort.Search(len(l.live), func(i int) bool { return l.live[i] >= v }); i < len(l.live) && l.live[i] == v {
		l.live = append(l.live[:i], l.live[i+1:]...)
	}
	var clean []*policySet
	kept := l.dropped[:0]
	for _, set := range l.dropped {
		if l.liveWithin(set.born, set.until) {
			kept = append(kept, set)
		} else {
			clean = append(clean, set)
		}
	}
	clear(l.dropped[len(kept):]) // no pointer kept past the slice's end
	l.dropped = kept
	l.mu.Unlock()
	for _, set := range clean {
		set.cleanup(s.compiler.logf)
	}
}

// liveWithin says whether a version from..until-1 has not retired.
func (l *setLives) liveWithin(from, until uint64) bool {
	i := sort.Search(len(l.live), func(i int) bool { return l.live[i] >= from })
	return i < len(l.live) && l.live[i] < until
}

// cleanup runs the policies' Cleanup: on the last release, or at once for
// a set that a refused version made and nobody holds.
func (p *policySet) cleanup(logf func(format string, args ...any)) {
	for i, pol := range p.policies {
		if c, ok := pol.(Cleaner); ok {
			id := "" // a consumer's set has no ids
			if i < len(p.ids) {
				id = p.ids[i]
			}
			cleanUp(c, id, logf)
		}
	}
}

// cleanUp runs c's Cleanup. It runs on a goroutine of its own (a retired
// version's), or on a stop's or a refused compile's: a panic would end the
// process, and leave the set's other policies uncleaned. It is logged with
// its stack, as the policy's (id, and its type), and the others go on.
func cleanUp(c Cleaner, id string, logf func(format string, args ...any)) {
	defer func() {
		if r := recover(); r != nil {
			logf("policy %q (%T) panicked in Cleanup: %v\n%s", id, c, r, panicStack())
		}
	}()
	c.Cleanup()
}
