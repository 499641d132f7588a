package lb

import "time"

// failed applies nginx's max_fails/fail_timeout and the consecutive-error
// outlier rules to one failed or 5xx attempt.
func (t *Target) failed(now int64, o Outcome, countsAsFailure bool) {
	c := t.core
	p := &c.cfg.Passive
	gateway := o.gatewayError()

	t.mu.Lock()
	defer t.mu.Unlock()

	if !gateway && t.consecutiveGateway.Load() != 0 {
		t.consecutiveGateway.Store(0)
	}
	if t.downUntil.Load() > now {
		// Already out: attempts begun before the ejection end now and must
		// not extend it.
		return
	}

	if maxFails := int(t.maxFails.Load()); countsAsFailure && maxFails > 0 {
		failTimeout := t.failTimeout.Load()
		if t.windowFails == 0 || now-t.windowStart > failTimeout {
			t.windowStart, t.windowFails = now, 0
		}
		t.windowFails++
		if t.windowFails >= maxFails && c.eject(t, now, now+failTimeout, downMaxFails) {
			t.windowFails = 0
			return
		}
	}

	if n := t.consecutive5xx.Add(1); p.Consecutive5xx > 0 && int(n) >= p.Consecutive5xx {
		if c.eject(t, now, now+t.ejectionTime(), downConsecutive5xx) {
			t.consecutive5xx.Store(0)
			t.consecutiveGateway.Store(0)
			t.ejections.Add(1)
			return
		}
	}
	if gateway {
		if n := t.consecutiveGateway.Add(1); p.ConsecutiveGatewayErrors > 0 && int(n) >= p.ConsecutiveGatewayErrors {
			if c.eject(t, now, now+t.ejectionTime(), downConsecutiveGateway) {
				t.consecutive5xx.Store(0)
				t.consecutiveGateway.Store(0)
				t.ejections.Add(1)
			}
		}
	}
}

// ejectionTime grows with the ejections in a row, up to MaxEjectionTime.
func (t *Target) ejectionTime() int64 {
	p := &t.core.cfg.Passive
	d := p.EjectionTime * time.Duration(t.ejections.Load()+1)
	if d > p.MaxEjectionTime || d <= 0 {
		d = p.MaxEjectionTime
	}
	return int64(d)
}

// eject takes t out until the given time unless that would put more than
// MaxEjectedPercent of the targets in rotation out (one target may always
// go). The rotation is every target not admin-down, backups included: a
// drained target is neither capacity nor an ejection, and a backup is
// capacity the ejected primaries fall back on; an admin-down t (failing
// attempts begun before the drain) may always go, as it changes nothing in
// rotation. It reports whether t was taken out.
func (c *core) eject(t *Target, now, until int64, why downReason) bool {
	c.ejectMu.Lock()
	defer c.ejectMu.Unlock()
	s := c.snap.Load()
	down, inRotation, drained := 0, 0, false
	for i, x := range s.targets {
		if s.specs[i].Down {
			drained = drained || x == t
			continue
		}
		inRotation++
		if x != t && x.downUntil.Load() > now {
			down++
		}
	}
	if !drained && down > 0 && (down+1)*100 > c.cfg.MaxEjectedPercent*inRotation {
		c.ejectionsRefused.Add(1)
		return false
	}
	t.downReason.Store(uint32(why))
	t.downUntil.Store(until)
	c.healthEpoch.Add(1)
	c.ejectionsDone.Add(1)
	return true
}
