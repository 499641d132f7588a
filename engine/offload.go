package engine

// offloadPool bounds the goroutines that do blocking work for the loops
// (dialing upstreams, policies calling out). A full pool refuses work
// instead of queueing it: an outage must not turn into unbounded goroutines.
type offloadPool struct {
	slots chan struct{}
	logf  func(format string, args ...any) // where a panic of the work goes
}

func newOffloadPool(n int, logf func(format string, args ...any)) *offloadPool {
	return &offloadPool{slots: make(chan struct{}, n), logf: logf}
}

// submit runs fn on a new goroutine if a slot is free and reports whether it
// did. It never blocks. A panic in fn (policy work from Ctx.Go) would end
// the process, no loop being there to suffer it alone: it is logged with
// its stack and dropped, and its slot freed.
func (p *offloadPool) submit(fn func()) bool {
	select {
	case p.slots <- struct{}{}:
	default:
		return false
	}
	go func() {
		defer func() {
			<-p.slots
			if r := recover(); r != nil {
				p.logf("off-loop work panicked: %v\n%s", r, panicStack())
			}
		}()
		fn()
	}()
	return true
}
