package policies

import (
	"sync"
	"sync/atomic"
)

// perWorker holds one T per worker of the server, indexed by
// Ctx.WorkerID, for state that only the worker's loop touches (a buffer,
// a generator): no lock and no shared cache line on the request path. The
// engine does not tell a factory how many workers there are, so the
// slots grow on a worker's first use, under a lock, once. Safe for
// concurrent use; each *T belongs to its worker's loop.
type perWorker[T any] struct {
	mu    sync.Mutex
	slots atomic.Pointer[[]*paddedSlot[T]]
}

// paddedSlot keeps two workers' values off one cache line.
type paddedSlot[T any] struct {
	v T
	_ [64]byte
}

// get returns worker id's T.
func (p *perWorker[T]) get(id int) *T {
	if s := p.slots.Load(); s != nil && id < len(*s) {
		return &(*s)[id].v
	}
	return p.grow(id)
}

func (p *perWorker[T]) grow(id int) *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	var old []*paddedSlot[T]
	if s := p.slots.Load(); s != nil {
		old = *s
	}
	if id < len(old) {
		return &old[id].v
	}
	slots := make([]*paddedSlot[T], id+1)
	copy(slots, old)
	for i := len(old); i <= id; i++ {
		slots[i] = new(paddedSlot[T])
	}
	p.slots.Store(&slots)
	return &slots[id].v
}
