package redis

import "sync/atomic"

// Stats are the client's counters since New, for /metrics. Every failed
// call counts once in Errors and once in the field of its kind.
type Stats struct {
	Calls       uint64 // calls made, failed ones included
	Errors      uint64 // calls that failed, whatever the kind
	Unavailable uint64 // ErrUnavailable, fast failures before the connection included
	Timeouts    uint64 // ErrTimeout
	Canceled    uint64 // ErrCanceled
	Replies     uint64 // ErrReply: Redis error replies
	Closed      uint64 // ErrClosed

	Connected bool // the first connection succeeded and Close was not called
	// Reachable: Redis answers now. With the event loops' connections
	// (Loop: standalone, no TLS), their last calls succeeded; otherwise
	// the same as Connected.
	Reachable       bool
	Connects        uint64 // successful background connects (0 or 1)
	ConnectFailures uint64 // failed background connect attempts
}

// counters are the atomics behind Stats. Process-wide rather than per
// worker: a call costs a network round trip, so the shared cache line is
// noise beside it.
type counters struct {
	calls, errors, unavailable, timeouts, canceled, replies, closed atomic.Uint64
	connects, connectFailures                                       atomic.Uint64
}

// count records one failure of kind.
func (s *counters) count(kind error) {
	s.errors.Add(1)
	switch kind {
	case ErrUnavailable:
		s.unavailable.Add(1)
	case ErrTimeout:
		s.timeouts.Add(1)
	case ErrCanceled:
		s.canceled.Add(1)
	case ErrReply:
		s.replies.Add(1)
	case ErrClosed:
		s.closed.Add(1)
	}
}

// Stats returns a snapshot of the counters; each is read atomically, the
// set is not one instant.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Calls:           s.calls.Load(),
		Errors:          s.errors.Load(),
		Unavailable:     s.unavailable.Load(),
		Timeouts:        s.timeouts.Load(),
		Canceled:        s.canceled.Load(),
		Replies:         s.replies.Load(),
		Closed:          s.closed.Load(),
		Connected:       c.Connected(),
		Reachable:       c.reachable(),
		Connects:        s.connects.Load(),
		ConnectFailures: s.connectFailures.Load(),
	}
}

// reachable is Stats.Reachable.
func (c *Client) reachable() bool {
	if c.loop != nil {
		return c.loop.Reachable() && !c.isClosed()
	}
	return c.Connected()
}
