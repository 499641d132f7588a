package lb

import "math/bits"

// pickTwoChoices draws two distinct usable targets by weight and keeps the
// cheaper (Mitzenmacher's power of two choices): P2C compares in-flight
// attempts per unit of weight, PeakEWMA compares peak-EWMA latency times
// (in-flight+1), Finagle's and Linkerd's cost. Draws that
// land on unusable targets are retried a few times; when they keep missing
// (most targets down or tried) a scan finds the cheapest usable target.
func (p *Picker) pickTwoChoices(s *pool, tried *Tried, now int64, panicking bool) *Target {
	a := p.drawUsable(s, tried, now, panicking, -1)
	if a < 0 {
		return p.scanCheapest(s, tried, now, panicking)
	}
	b := p.drawUsable(s, tried, now, panicking, a)
	if b < 0 {
		// a may be the only usable target, or the draws were unlucky:
		// compare a with everyone rather than return it unchallenged.
		return p.scanCheapest(s, tried, now, panicking)
	}
	if p.cheaper(s, b, a, now) {
		a = b
	}
	return s.targets[a]
}

const drawAttempts = 3

func (p *Picker) drawUsable(s *pool, tried *Tried, now int64, panicking bool, not int) int {
	for range drawAttempts {
		i := p.draw(s, not)
		if i != not && p.usable(s.targets[i], tried, now, panicking) {
			return i
		}
	}
	return -1
}

// draw returns a target index other than not (-1 for any), with
// probability proportional to its weight among the others.
func (p *Picker) draw(s *pool, not int) int {
	n := len(s.targets)
	if n == 1 {
		return 0
	}
	if s.equalWeights {
		if not < 0 {
			return int(p.rng.below(uint64(n)))
		}
		i := int(p.rng.below(uint64(n - 1)))
		if i >= not {
			i++
		}
		return i
	}
	total := s.totalWeight
	var skipFrom, skipLen int64 = total, 0
	if not >= 0 {
		skipLen = int64(s.weights[not])
		skipFrom = s.cumWeights[not] - skipLen
		total -= skipLen
	}
	r := int64(p.rng.below(uint64(total)))
	if r >= skipFrom {
		r += skipLen
	}
	lo, hi := 0, n-1
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

// scanCheapest returns the cheapest usable target; the scan starts at a
// random target so that ties do not all land on the first one.
func (p *Picker) scanCheapest(s *pool, tried *Tried, now int64, panicking bool) *Target {
	n := len(s.targets)
	best := -1
	start := int(p.rng.below(uint64(n)))
	for k := range n {
		i := start + k
		if i >= n {
			i -= n
		}
		if p.usable(s.targets[i], tried, now, panicking) && (best < 0 || p.cheaper(s, i, best, now)) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return s.targets[best]
}

// cheaper reports whether target i costs strictly less than target j.
func (p *Picker) cheaper(s *pool, i, j int, now int64) bool {
	ti, tj := s.targets[i], s.targets[j]
	if p.kind == PeakEWMA {
		// Weights act through the draws only: dividing the cost too would
		// count them twice and starve light targets of equal latency.
		return ti.ewmaCost(now) < tj.ewmaCost(now)
	}
	wi, wj := int64(s.weights[i]), int64(s.weights[j])
	return ti.inflight.Load()*wj < tj.inflight.Load()*wi
}

func mul64(a, b uint64) (hi, lo uint64) { return bits.Mul64(a, b) }
