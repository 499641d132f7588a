package lb

// Snapshot is an immutable list of targets with everything the balancers
// precompute over it (weight sums, the Maglev table). Pickers hold one per
// worker and notice a new one by pointer comparison.
//
// Snapshot is safe for concurrent use; its contents never change after
// Upstream.Update publishes it.
type Snapshot struct {
	version uint64
	targets []*Target
	weights []int32
	// cumWeights[i] is the sum of weights[0..i], for weighted draws.
	cumWeights   []int64
	totalWeight  int64
	equalWeights bool
	// table is the Maglev lookup table of the Hash balancer: slot -> index
	// into targets.
	table []uint32
}

// Version counts the Updates that produced this snapshot; the initial empty
// snapshot is version 0.
func (s *Snapshot) Version() uint64 { return s.version }

// Len returns the number of targets.
func (s *Snapshot) Len() int { return len(s.targets) }

// Targets returns the targets in configuration order. The slice is shared by
// every reader of the snapshot: do not modify it.
func (s *Snapshot) Targets() []*Target { return s.targets }

func buildSnapshot(version uint64, targets []*Target, weights []int32, cfg *Config) *Snapshot {
	s := &Snapshot{
		version:      version,
		targets:      targets,
		weights:      weights,
		cumWeights:   make([]int64, len(targets)),
		equalWeights: true,
	}
	for i, w := range weights {
		s.totalWeight += int64(w)
		s.cumWeights[i] = s.totalWeight
		if w != weights[0] {
			s.equalWeights = false
		}
	}
	if cfg.Balancer == Hash && len(targets) > 0 {
		size := cfg.HashTableSize
		if size == 0 || size <= len(targets) {
			size = defaultTableSize(len(targets))
		}
		s.table = buildMaglev(targets, weights, size)
	}
	return s
}
