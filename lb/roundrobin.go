package lb

// pickRoundRobin is nginx's smooth weighted round-robin
// (ngx_http_upstream_get_peer): every usable target gains its weight, the
// highest current weight wins and loses the total. Over any window of
// sum(weights) picks each target gets exactly its weight, interleaved
// (5,1,1 gives a a b a c a a). The cursors are the worker's own.
func (p *Picker) pickRoundRobin(s *pool, tried *Tried, now int64, panicking bool) *Target {
	best := -1
	var total int64
	cw := p.cursors(s)
	for i, t := range s.targets {
		if !p.usable(t, tried, now, panicking) {
			continue
		}
		w := int64(s.weights[i])
		cw[i] += w
		total += w
		if best < 0 || cw[i] > cw[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	cw[best] -= total
	return s.targets[best]
}
