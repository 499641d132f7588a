package lb

import (
	"math"
	"math/rand/v2"
)

// Tried is the set of targets already tried by one request, so that a retry
// goes to a different target. It is a value type of fixed size: keep it in
// the request context and Reset it per request; it never allocates. It holds
// up to MaxTries targets; later Adds are ignored. Not safe for concurrent
// use.
type Tried struct {
	n       uint8
	targets [MaxTries]*Target
}

// Add records t as tried.
func (s *Tried) Add(t *Target) {
	if int(s.n) < len(s.targets) {
		s.targets[s.n] = t
		s.n++
	}
}

// Has reports whether t was tried.
func (s *Tried) Has(t *Target) bool {
	for _, x := range s.targets[:s.n] {
		if x == t {
			return true
		}
	}
	return false
}

// Len returns the number of targets tried.
func (s *Tried) Len() int { return int(s.n) }

// Reset empties the set for the next request.
func (s *Tried) Reset() {
	clear(s.targets[:s.n])
	s.n = 0
}

// Picker picks targets of one Upstream for one worker. It keeps the
// worker's own balancer cursors and random state, so workers never contend
// on the pick path; it reads the upstream's snapshot with one atomic load
// and follows Updates by itself.
//
// A Picker is NOT safe for concurrent use: make one per event loop with
// Upstream.NewPicker. It must not be copied.
type Picker struct {
	_    noCopy
	core *core
	kind BalancerKind

	snap *Snapshot
	// cw holds the smooth weighted round-robin current weights, by target
	// index, the primaries' then the backups' (RoundRobin, and ties of
	// LeastConn).
	cw []int64
	// seen marks targets met during a Maglev fallback walk, by generation.
	seen    []uint32
	seenGen uint32
	rng     rng

	// Panic-mode cache: the healthy count is recomputed only when the
	// snapshot or the upstream's health epoch changes, or when the earliest
	// ejection seen at the last count expires.
	healthy    int
	epoch      uint64
	nextExpiry int64
	stale      bool
	panic      bool
}

// NewPicker returns a picker for one worker, seeded from the runtime's
// random source.
func (u *Upstream) NewPicker() *Picker { return u.newPicker(rand.Uint64()) }

func (u *Upstream) newPicker(seed uint64) *Picker {
	return &Picker{core: u.core, kind: u.core.cfg.Balancer, rng: rng{state: seed}}
}

// Pick returns the target for the next attempt of a request, skipping the
// targets in tried (nil for none), the admin-down targets and, outside panic
// mode, the targets down by health. Primary targets come first; backups only
// when no primary can be picked. hashKey is read by the Hash balancer only
// (nil elsewhere); an empty key picks a random target by weight. Pick reads
// one atomic snapshot, takes no lock, does not block and does not allocate,
// except once after an Update to size its cursors to the new snapshot.
//
// It returns ErrAllDown when no target in rotation is healthy and
// Config.PanicWhenAllDown is false, or when every target is admin-down; and
// ErrNoTarget when the upstream is empty or every usable target is in
// tried. The caller should Begin the target before using it.
func (p *Picker) Pick(hashKey []byte, tried *Tried) (*Target, error) {
	s := p.core.snap.Load()
	if s != p.snap {
		p.attach(s)
	}
	if len(s.targets) == 0 {
		return nil, ErrNoTarget
	}
	if tried != nil && tried.n == 0 {
		tried = nil
	}
	now := p.core.now()
	panicking := p.panicMode(s, now)
	if t := p.pick(&s.primary, hashKey, tried, now, panicking); t != nil {
		return t, nil
	}
	return p.pickFallback(s, hashKey, tried, now, panicking)
}

// pickFallback runs when no primary could be picked: the backups come next
// (nginx's order), then, when nothing healthy was found, a fresh count of
// health decides between panic mode and ErrAllDown.
func (p *Picker) pickFallback(s *Snapshot, key []byte, tried *Tried, now int64, panicking bool) (*Target, error) {
	if t := p.pick(&s.backup, key, tried, now, panicking); t != nil {
		return t, nil
	}
	if panicking {
		return nil, ErrNoTarget
	}
	// Nothing healthy was left: the cached count may be stale.
	if p.recount(s, now) == 0 && (!p.core.cfg.PanicWhenAllDown || s.primary.live+s.backup.live == 0) {
		return nil, ErrAllDown
	}
	if p.panic {
		if t := p.pick(&s.primary, key, tried, now, true); t != nil {
			return t, nil
		}
		if t := p.pick(&s.backup, key, tried, now, true); t != nil {
			return t, nil
		}
	}
	return nil, ErrNoTarget
}

// Panicking reports whether the picker's last look at health found the
// upstream in panic mode (too few healthy targets, all of them used).
func (p *Picker) Panicking() bool { return p.panic }

func (p *Picker) pick(s *pool, key []byte, tried *Tried, now int64, panicking bool) *Target {
	if s.live == 0 {
		return nil
	}
	switch p.kind {
	case LeastConn:
		return p.pickLeastConn(s, tried, now, panicking)
	case Hash:
		return p.pickHash(s, key, tried, now, panicking)
	case P2C, PeakEWMA:
		return p.pickTwoChoices(s, tried, now, panicking)
	default:
		return p.pickRoundRobin(s, tried, now, panicking)
	}
}

// usable reports whether t may be picked now. Admin-down targets are never
// met: they are out of the pools, or out of the Hash balancer's table.
func (p *Picker) usable(t *Target, tried *Tried, now int64, panicking bool) bool {
	if tried != nil && tried.Has(t) {
		return false
	}
	return panicking || t.available(now)
}

func (p *Picker) panicMode(s *Snapshot, now int64) bool {
	cfg := &p.core.cfg
	if cfg.PanicThreshold <= 0 && !cfg.PanicWhenAllDown {
		return false
	}
	if p.stale || now >= p.nextExpiry || p.core.healthEpoch.Load() != p.epoch {
		p.recount(s, now)
	}
	return p.panic
}

// recount counts the healthy targets of each tier, decides panic mode from
// them and returns the healthy total.
func (p *Picker) recount(s *Snapshot, now int64) int {
	// The epoch is read first: a change during the count is seen next time.
	p.epoch = p.core.healthEpoch.Load()
	p.nextExpiry = math.MaxInt64
	primary := p.countHealthy(&s.primary, now)
	backup := p.countHealthy(&s.backup, now)
	p.healthy, p.stale = primary+backup, false
	p.panic = panicRule(&p.core.cfg, primary, s.primary.live, backup, s.backup.live)
	return p.healthy
}

// countHealthy counts the available targets of a pool that are not
// admin-down, and lowers nextExpiry to the earliest ejection end among the
// others.
func (p *Picker) countHealthy(s *pool, now int64) int {
	healthy := 0
	for i, t := range s.targets {
		if s.downAt(i) {
			continue
		}
		if t.available(now) {
			healthy++
		} else if until := t.downUntil.Load(); until > now && until < p.nextExpiry {
			p.nextExpiry = until
		}
	}
	return healthy
}

// panicRule decides panic mode from the healthy and listed counts, for the
// pickers and the status view alike. Admin-down targets are in neither
// count. The threshold applies to the primaries, and backups come before
// panic, as in nginx they come before "all failed": while a backup is
// healthy the primaries never panic (their healthy ones are used while
// there is one, then the healthy backups). With no healthy backup the
// primaries panic below the threshold as they do without backups; with
// nothing healthy at all, panic is PanicWhenAllDown, unless every target is
// admin-down (there is nothing to panic over).
func panicRule(cfg *Config, healthyPrimaries, livePrimaries, healthyBackups, liveBackups int) bool {
	switch {
	case healthyBackups > 0:
		return false
	case healthyPrimaries == 0:
		return cfg.PanicWhenAllDown && livePrimaries+liveBackups > 0
	default:
		return float64(healthyPrimaries) < cfg.PanicThreshold*float64(livePrimaries)
	}
}

// attach sizes the per-worker cursors to a new snapshot. Round-robin
// cursors start a random number of steps in, so that workers do not all
// send their first request to the same target.
func (p *Picker) attach(s *Snapshot) {
	p.snap = s
	n := len(s.primary.targets) + len(s.backup.targets)
	if cap(p.cw) < n {
		p.cw = make([]int64, n)
		p.seen = make([]uint32, n)
	} else {
		p.cw = p.cw[:n]
		clear(p.cw)
		p.seen = p.seen[:n]
		clear(p.seen)
	}
	p.seenGen = 0
	p.stale = true
	if p.kind == RoundRobin || p.kind == LeastConn {
		for _, tier := range [...]*pool{&s.primary, &s.backup} {
			if len(tier.targets) > 1 {
				for steps := p.rng.below(uint64(len(tier.targets))); steps > 0; steps-- {
					p.smoothStep(tier)
				}
			}
		}
	}
}

// cursors returns the pool's smooth round-robin current weights.
func (p *Picker) cursors(s *pool) []int64 { return p.cw[s.off : s.off+len(s.targets)] }

// smoothStep advances the round-robin cursors by one pick over all targets
// of a pool.
func (p *Picker) smoothStep(s *pool) {
	cw := p.cursors(s)
	best := 0
	for i, w := range s.weights {
		cw[i] += int64(w)
		if cw[i] > cw[best] {
			best = i
		}
	}
	cw[best] -= s.totalWeight
}

// rng is wyrand: one add and one 128-bit multiply per number, good enough
// to spread load and cheap enough for every pick.
type rng struct{ state uint64 }

func (r *rng) next() uint64 {
	r.state += 0xa0761d6478bd642f
	hi, lo := mul64(r.state, r.state^0xe7037ed1a0b428db)
	return hi ^ lo
}

// below returns a number in [0, n) (Lemire's multiply-shift, with a bias
// below 2^-32 for the sizes used here).
func (r *rng) below(n uint64) uint64 {
	hi, _ := mul64(r.next(), n)
	return hi
}
