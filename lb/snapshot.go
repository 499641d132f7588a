package lb

// Snapshot is an immutable list of targets with everything the balancers
// precompute over it (weight sums, the Maglev table). Pickers hold one per
// worker and notice a new one by pointer comparison.
//
// Snapshot is safe for concurrent use; its contents never change after
// Upstream.Update publishes it.
type Snapshot struct {
	version uint64
	// targets and specs are every listed target in configuration order,
	// admin-down ones included; specs have their weights filled in.
	targets []*Target
	specs   []TargetSpec
	// primary and backup are the two tiers the pickers draw from: backups
	// only when no primary can be picked.
	primary pool
	backup  pool
}

// pool is one tier of a snapshot's rotation and what the balancers
// precompute over it. Admin-down targets are left out of it, except with
// the Hash balancer: there they stay in targets, marked in adminDown, so
// that the Maglev table is built as if they were up and no other key moves
// when one is drained; the slots of a drained target then name the next
// owner in table order that is not drained, the target a lookup walking
// past it would reach. Lookups thus never meet a drained target and check
// nothing more than before.
type pool struct {
	targets []*Target
	weights []int32
	// cumWeights[i] is the sum of weights[0..i], for weighted draws.
	cumWeights   []int64
	totalWeight  int64
	equalWeights bool
	// table is the Maglev lookup table of the Hash balancer: slot -> index
	// into targets.
	table []uint32
	// adminDown[i] marks targets[i] down by the operator (Hash only); nil
	// when none is.
	adminDown []bool
	// live counts the targets not admin-down: the denominator of the
	// panic threshold, and the distinct targets a Maglev walk can meet.
	live int
	// off is where the pool's cursors start in the Picker's cw and seen.
	off int
}

// Version counts the Updates that produced this snapshot; the initial empty
// snapshot is version 0.
func (s *Snapshot) Version() uint64 { return s.version }

// Len returns the number of targets, admin-down ones included.
func (s *Snapshot) Len() int { return len(s.targets) }

// Targets returns the targets in configuration order, admin-down ones
// included. The slice is shared by every reader of the snapshot: do not
// modify it.
func (s *Snapshot) Targets() []*Target { return s.targets }

// Specs returns the specs the snapshot was built from, in the order of
// Targets, with weights filled in (0 became 1); MaxFails and FailTimeout
// are as given (0: the upstream's). Discovery compares them with what it
// would apply. The slice is shared: do not modify it.
func (s *Snapshot) Specs() []TargetSpec { return s.specs }

// downAt reports whether targets[i] of the pool is down by the operator.
func (s *pool) downAt(i int) bool { return s.adminDown != nil && s.adminDown[i] }

// buildSnapshot splits the targets into their tiers and precomputes each.
// specs have been checked and their weights filled in.
func buildSnapshot(version uint64, targets []*Target, specs []TargetSpec, cfg *Config) *Snapshot {
	s := &Snapshot{version: version, targets: targets, specs: specs}
	keepDown := cfg.Balancer == Hash
	for i, sp := range specs {
		tier := &s.primary
		if sp.Backup {
			tier = &s.backup
		}
		if sp.Down && !keepDown {
			continue
		}
		tier.targets = append(tier.targets, targets[i])
		tier.weights = append(tier.weights, int32(sp.Weight))
		if sp.Down {
			if tier.adminDown == nil {
				tier.adminDown = make([]bool, len(specs))
			}
			tier.adminDown[len(tier.targets)-1] = true
		} else {
			tier.live++
		}
	}
	s.primary.build(cfg, 0)
	s.backup.build(cfg, len(s.primary.targets))
	return s
}

func (s *pool) build(cfg *Config, off int) {
	n := len(s.targets)
	s.off = off
	if s.adminDown != nil {
		s.adminDown = s.adminDown[:n]
	}
	s.cumWeights = make([]int64, n)
	s.equalWeights = true
	for i, w := range s.weights {
		s.totalWeight += int64(w)
		s.cumWeights[i] = s.totalWeight
		if w != s.weights[0] {
			s.equalWeights = false
		}
	}
	if cfg.Balancer == Hash && n > 0 {
		size := cfg.HashTableSize
		if size == 0 || size <= n {
			size = defaultTableSize(n)
		}
		s.table = buildMaglev(s.targets, s.weights, size)
		if s.adminDown != nil {
			s.skipDrained()
		}
	}
}

// skipDrained gives each slot of a drained target to the next owner, in
// table order (wrapping), that is not drained: one backward pass from a
// slot with such an owner. With every target drained the table stays, and
// pick never looks (live is 0).
func (s *pool) skipDrained() {
	m := len(s.table)
	start := -1
	for i, idx := range s.table {
		if !s.adminDown[idx] {
			start = i
			break
		}
	}
	if start < 0 {
		return
	}
	owner := s.table[start]
	for k := 1; k < m; k++ {
		slot := (start - k + m) % m
		if idx := s.table[slot]; s.adminDown[idx] {
			s.table[slot] = owner
		} else {
			owner = idx
		}
	}
}
