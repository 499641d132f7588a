package engine

// offloadPool bounds the goroutines that do blocking work for the loops
// (dialing upstreams, policies calling out). A full pool refuses work
// instead of queueing it: an outage must not turn into unbounded goroutines.
type offloadPool struct {
	slots chan struct{}
}

func newOffloadPool(n int) *offloadPool {
	return &offloadPool{slots: make(chan struct{}, n)}
}

// submit runs fn on a new goroutine if a slot is free and reports whether it
// did. It never blocks.
func (p *offloadPool) submit(fn func()) bool {
	select {
	case p.slots <- struct{}{}:
	default:
		return false
	}
	go func() {
		defer func() { <-p.slots }()
		fn()
	}()
	return true
}
