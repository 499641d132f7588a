package lb

import "math"

// observe feeds one attempt into the peak-EWMA latency estimate (Finagle's
// PeakEwma): a latency above the estimate replaces it at once, a lower one is
// averaged in with a weight that decays with the time since the previous
// observation. A failed attempt feeds at least twice the current estimate,
// so a target that fails fast does not look fast; the penalty is relative
// so that the estimate decays back to the others' within seconds once the
// target answers again (passive health is what takes a dead target out).
// The first observation replaces EWMA.DefaultRTT outright: the default is a
// guess, and averaging it out would take several decay times.
func (t *Target) observe(now int64, o Outcome, failed bool) {
	rtt := float64(o.Latency)
	if rtt < 0 {
		rtt = 0
	}
	// Lock-free: workers ending attempts on one target race on a CAS of the
	// value; the stamp is stored after and may lag by a racing update,
	// which only blurs an estimate.
	for {
		bits := t.ewmaBits.Load()
		w := t.decayWeight(now)
		prev := math.Float64frombits(bits) * w
		sample := rtt
		if failed {
			sample = math.Max(sample, 2*prev)
		}
		next := sample
		if sample < prev && t.ewmaSeen.Load() {
			// prev is already decayed by w = e^(-elapsed/decay): the
			// average is prev + sample·(1-w).
			next = prev + sample*(1-w)
		}
		if t.ewmaBits.CompareAndSwap(bits, floatBits(next)) {
			if now > t.ewmaStamp.Load() {
				t.ewmaStamp.Store(now)
			}
			if !t.ewmaSeen.Load() {
				t.ewmaSeen.Store(true)
			}
			return
		}
	}
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

// ewmaCost is the peak-EWMA balancer's load of a target: its latency
// estimate times (in-flight+1). A target that has not answered yet costs
// EWMA.DefaultRTT per attempt in flight, nothing when idle: a new target is
// tried at once, one attempt at a time until it answers (Finagle probes
// new nodes the same way), instead of being starved while a default
// estimate that may be far above the others' decays.
func (t *Target) ewmaCost(now int64) float64 {
	in := float64(t.inflight.Load())
	if !t.ewmaSeen.Load() {
		return float64(t.core.cfg.EWMA.DefaultRTT) * in
	}
	return t.ewmaAt(now) * (in + 1)
}

func floatBits(f float64) uint64 { return math.Float64bits(f) }
