package lb

import "math"

// observe feeds one attempt into the peak-EWMA latency estimate (Finagle's
// PeakEwma): a latency above the estimate replaces it at once, a lower one is
// averaged in with a weight that decays with the time since the previous
// observation. A failed attempt feeds a penalty of at least twice the
// current estimate, so a target that fails fast does not look fast.
func (t *Target) observe(now int64, o Outcome, failed bool) {
	rtt := float64(o.Latency)
	if rtt < 0 {
		rtt = 0
	}
	t.mu.Lock()
	prev := t.ewmaAt(now)
	if failed {
		rtt = math.Max(rtt, math.Max(2*prev, float64(t.core.cfg.EWMA.DefaultRTT)))
	}
	next := rtt
	if rtt < prev {
		// ewmaAt already decayed prev by e^(-elapsed/decay): averaging with
		// the same weight gives prev·w + rtt·(1-w).
		w := t.decayWeight(now)
		next = prev + rtt*(1-w)
	}
	t.ewmaBits.Store(floatBits(next))
	t.ewmaStamp.Store(now)
	t.mu.Unlock()
}

// ewmaAt returns the estimate decayed toward zero for the time since the last
// observation, so an idle target is tried again eventually. Lock-free: the
// value and its stamp may come from two updates racing, which only blurs an
// estimate that is an estimate anyway.
func (t *Target) ewmaAt(now int64) float64 {
	return math.Float64frombits(t.ewmaBits.Load()) * t.decayWeight(now)
}

func (t *Target) decayWeight(now int64) float64 {
	elapsed := now - t.ewmaStamp.Load()
	if elapsed <= 0 {
		return 1
	}
	return math.Exp(-float64(elapsed) / float64(t.core.cfg.EWMA.Decay))
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }
