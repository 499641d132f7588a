package pool

// IdleConn is what a keep-alive pool stores: an upstream connection that
// knows its own list links and when it went idle. Embed an IdleLink in the
// connection type and return it from Link.
type IdleConn interface {
	Link() *IdleLink
}

// IdleLink is the intrusive list entry of an idle connection; its zero
// value is an unlinked entry.
type IdleLink struct {
	prev, next IdleConn
	list       *idleList
	idleSince  int64 // unix nanoseconds
}

// Pooled reports whether the connection is in a pool now.
func (l *IdleLink) Pooled() bool { return l.list != nil }

// KeepaliveConfig bounds a pool. Zero fields take the defaults in brackets.
type KeepaliveConfig struct {
	MaxIdle     int   // idle connections kept per target [64]
	IdleTimeout int64 // nanoseconds an idle connection is kept [60s]
}

func (c KeepaliveConfig) withDefaults() KeepaliveConfig {
	if c.MaxIdle <= 0 {
		c.MaxIdle = 64
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60e9
	}
	return c
}

type idleList struct {
	head, tail IdleConn // head = most recently idle
	n          int
}

// Keepalive is one worker's cache of idle upstream connections, keyed by
// target. Get returns the most recently used connection (LIFO keeps the
// working set small and warm, as nginx does); when a target's list is full,
// Put hands back the oldest one for the caller to close.
//
// Not safe for concurrent use: a worker owns its pool.
type Keepalive[K comparable] struct {
	cfg   KeepaliveConfig
	lists map[K]*idleList
	total int
}

// NewKeepalive returns an empty pool.
func NewKeepalive[K comparable](cfg KeepaliveConfig) *Keepalive[K] {
	return &Keepalive[K]{cfg: cfg.withDefaults(), lists: make(map[K]*idleList)}
}

// Configure changes the bounds for connections put from now on.
func (p *Keepalive[K]) Configure(cfg KeepaliveConfig) { p.cfg = cfg.withDefaults() }

// Len is the number of idle connections across all targets.
func (p *Keepalive[K]) Len() int { return p.total }

// LenOf is the number of idle connections to one target.
func (p *Keepalive[K]) LenOf(key K) int {
	if l := p.lists[key]; l != nil {
		return l.n
	}
	return 0
}

// Get takes the most recently idled connection to key, or returns nil.
func (p *Keepalive[K]) Get(key K) IdleConn {
	l := p.lists[key]
	if l == nil || l.head == nil {
		return nil
	}
	c := l.head
	p.unlink(l, c)
	return c
}

// Put makes c idle under key at now. If the target already has MaxIdle idle
// connections, the oldest is removed and returned so the caller can close it.
func (p *Keepalive[K]) Put(key K, c IdleConn, now int64, maxIdle int) (evicted IdleConn) {
	if maxIdle <= 0 {
		maxIdle = p.cfg.MaxIdle
	}
	l := p.lists[key]
	if l == nil {
		l = &idleList{}
		p.lists[key] = l
	}
	link := c.Link()
	link.list, link.idleSince = l, now
	link.prev, link.next = nil, l.head
	if l.head != nil {
		l.head.Link().prev = c
	} else {
		l.tail = c
	}
	l.head = c
	l.n++
	p.total++
	if l.n > maxIdle {
		evicted = l.tail
		p.unlink(l, evicted)
	}
	return evicted
}

// Remove takes c out of the pool it is in (an upstream closed it, say).
// It reports whether c was pooled.
func (p *Keepalive[K]) Remove(c IdleConn) bool {
	l := c.Link().list
	if l == nil {
		return false
	}
	p.unlink(l, c)
	return true
}

// Expire removes every connection idle for at least its timeout and passes
// it to closeFn. timeoutOf gives a connection's idle timeout (nil, or a
// result <= 0, means the pool's IdleTimeout). Lists are ordered by idle
// time, so it stops at the first young connection of each target.
func (p *Keepalive[K]) Expire(now int64, timeoutOf func(IdleConn) int64, closeFn func(IdleConn)) {
	limit := func(c IdleConn) int64 {
		if timeoutOf != nil {
			if t := timeoutOf(c); t > 0 {
				return t
			}
		}
		return p.cfg.IdleTimeout
	}
	for _, l := range p.lists {
		for l.tail != nil && now-l.tail.Link().idleSince >= limit(l.tail) {
			c := l.tail
			p.unlink(l, c)
			closeFn(c)
		}
	}
}

// Drain removes every idle connection and passes each to closeFn.
func (p *Keepalive[K]) Drain(closeFn func(IdleConn)) {
	for _, l := range p.lists {
		for l.head != nil {
			c := l.head
			p.unlink(l, c)
			closeFn(c)
		}
	}
}

func (p *Keepalive[K]) unlink(l *idleList, c IdleConn) {
	link := c.Link()
	if link.prev != nil {
		link.prev.Link().next = link.next
	} else {
		l.head = link.next
	}
	if link.next != nil {
		link.next.Link().prev = link.prev
	} else {
		l.tail = link.prev
	}
	link.prev, link.next, link.list = nil, nil, nil
	l.n--
	p.total--
}
