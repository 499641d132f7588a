package engine

import "sync/atomic"

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

// cleanup releases the snapshot's policy sets, once: the policies of a set
// no newer version kept get their Cleanup.
func (s *Snapshot) cleanup() {
	if s.retire.done.Swap(true) {
		return
	}
	for _, r := range s.routes {
		if r != nil {
			r.own.release()
		}
	}
	s.globals.release()
	s.consumerSet.release()
	if s.redis != nil && s.compiler != nil && !s.compiler.isCurrentRedis(s.redis) {
		s.redis.Close() // a newer config has a client of its own
	}
}

// policySet is policies compiled together (a route's own, or the global
// ones) and shared by every config version that keeps them: an edit of
// one route leaves the others' policies, and their state, in place. Each
// version using the set holds a reference; the last to retire runs their
// Cleanup.
type policySet struct {
	policies []Policy
	ids      []string // the policies' identities (a route's or the globals')
	refs     atomic.Int32
}

func (p *policySet) acquire() {
	if p != nil {
		p.refs.Add(1)
	}
}

// release drops a reference; the last one cleans the policies up.
func (p *policySet) release() {
	if p != nil && p.refs.Add(-1) == 0 {
		p.cleanup()
	}
}

// cleanup runs the policies' Cleanup: on the last release, or at once for
// a set that a refused version made and nobody holds.
func (p *policySet) cleanup() {
	for _, pol := range p.policies {
		if c, ok := pol.(Cleaner); ok {
			c.Cleanup()
		}
	}
}
