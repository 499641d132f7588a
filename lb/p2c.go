package lb

import "math/bits"

// pickTwoChoices draws two distinct usable targets by weight and keeps the
// cheaper (Mitzenmacher's power of two choices): P2C compares in-flight
// attempts per unit of weight, PeakEWMA compares peak-EWMA latency times
// (in-flight+1) per unit of weight, Finagle's and Linkerd's cost. Draws that
// land on unusable targets are retried a few times; when they keep missing
// (most targets down or tried) a scan finds the cheapest usable target.
func (p *Picker) pickTwoChoices(s *Snapshot, tried *Tried, now int64, panicking bool) *Target {
	a := p.drawUsable(s, tried, now, panicking, -1)
	if a < 0 {
		return p.scanCheapest(s, tried, now, panicking)
	}
	if b := p.drawUsable(s, tried, now, panicking, a); b >= 0 && p.cheaper(s, b, a, now) {
		a = b
	}
	return s.targets[a]
}

const drawAttempts = 3

func (p *Picker) drawUsable(s *Snapshot, tried *Tried, now int64, panicking bool, not int) int {
	for range drawAttempts {
		i := p.draw(s)
		if i != not && p.usable(s.targets[i], tried, now, panicking) {
			return i
		}
	}
	return -1
}

// draw returns a target index with probability proportional to its weight.
func (p *Picker) draw(s *Snapshot) int {
	if s.equalWeights {
		return int(p.rng.below(uint64(len(s.targets))))
	}
	r := int64(p.rng.below(uint64(s.totalWeight)))
	lo, hi := 0, len(s.cumWeights)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.cumWeights[mid] > r {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func (p *Picker) scanCheapest(s *Snapshot, tried *Tried, now int64, panicking bool) *Target {
	best := -1
	for i, t := range s.targets {
		if p.usable(t, tried, now, panicking) && (best < 0 || p.cheaper(s, i, best, now)) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return s.targets[best]
}

// cheaper reports whether target i costs strictly less than target j.
func (p *Picker) cheaper(s *Snapshot, i, j int, now int64) bool {
	ti, tj := s.targets[i], s.targets[j]
	wi, wj := int64(s.weights[i]), int64(s.weights[j])
	if p.kind == PeakEWMA {
		ci := ti.ewmaAt(now) * float64(ti.inflight.Load()+1) / float64(wi)
		cj := tj.ewmaAt(now) * float64(tj.inflight.Load()+1) / float64(wj)
		return ci < cj
	}
	return ti.inflight.Load()*wj < tj.inflight.Load()*wi
}

func mul64(a, b uint64) (hi, lo uint64) { return bits.Mul64(a, b) }
