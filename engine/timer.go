package engine

// timerWheel is a worker's hashed timing wheel. It owns no goroutine: the
// worker advances it from its tick runnable, on its own event loop, so no
// method needs a lock. Timers are intrusive (a timerNode embedded in the
// connection), so arming and disarming never allocate.
//
// A node keeps a single deadline. Re-arming moves it; disarming unlinks it.
// Deadlines beyond one revolution stay in their slot and are skipped until
// the revolution that reaches them, so the wheel's span bounds nothing.
type timerWheel struct {
	slots    []timerNode // sentinels of circular lists
	tick     int64       // nanoseconds per slot
	cursor   int64       // the next tick number to expire (absolute)
	armed    int
	expiring timerNode // scratch list while firing, so callbacks may re-arm
}

// timerOwner is notified when its node's deadline has passed.
type timerOwner interface {
	onTimer(now int64)
}

type timerNode struct {
	prev, next *timerNode
	when       int64
	owner      timerOwner
}

func (n *timerNode) linked() bool { return n.next != nil }

func newTimerWheel(slots int, tick int64, now int64) *timerWheel {
	w := &timerWheel{slots: make([]timerNode, slots), tick: tick, cursor: now / tick}
	for i := range w.slots {
		s := &w.slots[i]
		s.prev, s.next = s, s
	}
	w.expiring.prev, w.expiring.next = &w.expiring, &w.expiring
	return w
}

// arm sets n's deadline to when (unix nanoseconds), replacing any earlier one.
func (w *timerWheel) arm(n *timerNode, when int64) {
	if n.linked() {
		w.unlink(n)
	}
	n.when = when
	t := when / w.tick
	if t < w.cursor {
		t = w.cursor
	}
	s := &w.slots[t%int64(len(w.slots))]
	n.prev, n.next = s.prev, s
	s.prev.next = n
	s.prev = n
	w.armed++
}

// disarm removes n's deadline if it has one.
func (w *timerWheel) disarm(n *timerNode) {
	if n.linked() {
		w.unlink(n)
	}
}

func (w *timerWheel) unlink(n *timerNode) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
	w.armed--
}

// advance fires every timer whose deadline is at or before now. Callbacks may
// arm or disarm any node, including their own.
func (w *timerWheel) advance(now int64) {
	end := now / w.tick
	n := int64(len(w.slots))
	if end-w.cursor >= n { // a long stall: one pass over every slot suffices
		w.cursor = end - n + 1
	}
	for ; w.cursor <= end; w.cursor++ {
		s := &w.slots[w.cursor%n]
		// Move due nodes to the expiring list first: firing may re-arm into this slot.
		for node := s.next; node != s; {
			next := node.next
			if node.when <= now {
				w.unlink(node)
				e := &w.expiring
				node.prev, node.next = e.prev, e
				e.prev.next = node
				e.prev = node
			}
			node = next
		}
		for e := &w.expiring; e.next != e; {
			node := e.next
			node.prev.next = node.next
			node.next.prev = node.prev
			node.prev, node.next = nil, nil
			node.owner.onTimer(now)
		}
	}
	// Stay on the current tick: a deadline later in this tick must still fire.
	w.cursor = end
}
