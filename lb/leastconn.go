package lb

// pickLeastConn is nginx's weighted least_conn: the fewest in-flight
// attempts per unit of weight wins; ties are broken by smooth weighted
// round-robin among the tied targets, so an idle upstream still spreads by
// weight. In-flight counts are shared by all workers.
func (p *Picker) pickLeastConn(s *pool, tried *Tried, now int64, panicking bool) *Target {
	best := -1
	var bestIn, bestW int64
	for i, t := range s.targets {
		if !p.usable(t, tried, now, panicking) {
			continue
		}
		in, w := t.inflight.Load(), int64(s.weights[i])
		// in/w < bestIn/bestW without division.
		if best < 0 || in*bestW < bestIn*w {
			best, bestIn, bestW = i, in, w
		}
	}
	if best < 0 {
		return nil
	}
	pick := -1
	var total int64
	cw := p.cursors(s)
	for i := best; i < len(s.targets); i++ {
		t := s.targets[i]
		in, w := t.inflight.Load(), int64(s.weights[i])
		if in*bestW != bestIn*w || !p.usable(t, tried, now, panicking) {
			continue
		}
		cw[i] += w
		total += w
		if pick < 0 || cw[i] > cw[pick] {
			pick = i
		}
	}
	if pick < 0 {
		// Counts moved under us (other workers); the first pass's choice is
		// as good as any.
		return s.targets[best]
	}
	cw[pick] -= total
	return s.targets[pick]
}
