package pool

import "testing"

type fakeConn struct {
	id   int
	link IdleLink
}

func (f *fakeConn) Link() *IdleLink { return &f.link }

func TestKeepaliveLIFOAndEviction(t *testing.T) {
	p := NewKeepalive[string](KeepaliveConfig{MaxIdle: 2})
	c1, c2, c3 := &fakeConn{id: 1}, &fakeConn{id: 2}, &fakeConn{id: 3}
	if ev := p.Put("a", c1, 1, 0); ev != nil {
		t.Fatal("evicted from a non-full list")
	}
	p.Put("a", c2, 2, 0)
	if ev := p.Put("a", c3, 3, 0); ev != IdleConn(c1) {
		t.Fatalf("evicted %v, want the oldest (c1)", ev)
	}
	if p.Len() != 2 || p.LenOf("a") != 2 || p.LenOf("b") != 0 {
		t.Fatalf("len=%d lenOf(a)=%d", p.Len(), p.LenOf("a"))
	}
	if got := p.Get("a"); got != IdleConn(c3) {
		t.Fatalf("Get returned %v, want the most recent (c3)", got)
	}
	if got := p.Get("b"); got != nil {
		t.Fatal("Get on an unknown key returned a conn")
	}
	if c3.link.Pooled() || !c2.link.Pooled() {
		t.Fatal("Pooled flags wrong")
	}
}

func TestKeepaliveRemoveFromMiddle(t *testing.T) {
	p := NewKeepalive[int](KeepaliveConfig{MaxIdle: 10})
	cs := []*fakeConn{{id: 0}, {id: 1}, {id: 2}}
	for i, c := range cs {
		p.Put(7, c, int64(i), 0)
	}
	if !p.Remove(cs[1]) || p.Remove(cs[1]) {
		t.Fatal("Remove should succeed once")
	}
	if got := p.Get(7); got != IdleConn(cs[2]) {
		t.Fatalf("got %v", got)
	}
	if got := p.Get(7); got != IdleConn(cs[0]) {
		t.Fatalf("got %v", got)
	}
	if p.Get(7) != nil || p.Len() != 0 {
		t.Fatal("pool not empty")
	}
}

func TestKeepaliveExpireOldestOnly(t *testing.T) {
	p := NewKeepalive[int](KeepaliveConfig{MaxIdle: 10, IdleTimeout: 100})
	old, young := &fakeConn{id: 1}, &fakeConn{id: 2}
	p.Put(1, old, 0, 0)
	p.Put(1, young, 150, 0)
	var closed []int
	p.Expire(200, nil, func(c IdleConn) { closed = append(closed, c.(*fakeConn).id) })
	if len(closed) != 1 || closed[0] != 1 {
		t.Fatalf("closed %v, want [1]", closed)
	}
	// A per-connection timeout overrides the pool's.
	p.Expire(200, func(IdleConn) int64 { return 1000 }, func(c IdleConn) { closed = append(closed, c.(*fakeConn).id) })
	if len(closed) != 1 || closed[0] != 1 {
		t.Fatalf("closed %v, want [1]", closed)
	}
	p.Drain(func(c IdleConn) { closed = append(closed, c.(*fakeConn).id) })
	if len(closed) != 2 || p.Len() != 0 {
		t.Fatalf("drain closed %v", closed)
	}
}
