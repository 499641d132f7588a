package stats

import (
	"fmt"
	"sync/atomic"
)

// VecID names a counter vector registered with Set.CounterVec.
type VecID int32

// chunkLen counters make one chunk: 512 bytes, a size class Go's allocator
// places at 512-byte boundaries, so a chunk fills whole cache lines and
// shares none with another object.
const chunkLen = 64

type vecChunk [chunkLen]uint64

// vecDir is one shard's view of a vector: indexes [0, n) are valid. A
// directory is immutable; growing publishes a new one that points to the
// same chunks plus new ones, so counters never move and a writer still
// holding the old directory writes where readers of the new one look.
type vecDir struct {
	n      int
	chunks []*vecChunk
}

type vecDesc struct {
	size atomic.Int64 // valid indexes on every shard; only grows
}

// CounterVec registers a vector of counters that share a name and differ by
// one label, whose value the caller maps to an index: a route index, a
// status class, or a product of such (route*5 + class). values, if any, are
// label values for indexes 0..len(values)-1 and make the initial length;
// GrowVec adds indexes later, for example when a config swap adds routes.
//
// The caller owns index assignment. An index keeps its count for the life
// of the Set: give a new route a fresh index rather than reuse a retired
// one, or accept that the new series continues the old one's count.
func (s *Set) CounterVec(name, help, label string, values ...string) VecID {
	if !ValidName(label, false) {
		panic(fmt.Sprintf("stats: %s: invalid label name %q", name, label))
	}
	id := len(s.vecs)
	s.register(Desc{Name: name, Help: help, Kind: KindCounterVec, VecLabel: label,
		VecValues: append([]string(nil), values...), ID: id})
	v := &vecDesc{}
	v.size.Store(int64(len(values)))
	s.vecs = append(s.vecs, v)
	return VecID(id)
}

// GrowVec makes indexes [0, n) of vector id valid on every shard; it never
// shrinks a vector. Call it from the control plane (a config swap) before
// publishing whatever hands the new indexes to workers: the publication then
// carries the growth to them. Safe for concurrent use, including with
// writers of the vector: it allocates the new chunks and swaps each shard's
// directory pointer, copying no counter, so no write is lost.
func (s *Set) GrowVec(id VecID, n int) {
	if n < 0 {
		panic(fmt.Sprintf("stats: GrowVec(%d, %d)", id, n))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vecs[id]
	if int64(n) <= v.size.Load() {
		return
	}
	// Shards first, then the size readers go by, so a reader never looks
	// for an index a shard lacks.
	for _, sh := range s.shards {
		sh.vecs[id].Store(growDir(sh.vecs[id].Load(), n))
	}
	v.size.Store(int64(n))
}

// VecLen returns the number of valid indexes of vector id.
func (s *Set) VecLen(id VecID) int { return int(s.vecs[id].size.Load()) }

// growDir returns a directory for n indexes sharing old's chunks, or old if
// it already has them.
func growDir(old *vecDir, n int) *vecDir {
	if old == nil {
		old = &vecDir{}
	}
	if n <= old.n {
		return old
	}
	chunks := old.chunks
	if need := (n + chunkLen - 1) / chunkLen; need > len(chunks) {
		chunks = make([]*vecChunk, need)
		copy(chunks, old.chunks)
		for i := len(old.chunks); i < need; i++ {
			chunks[i] = new(vecChunk)
		}
	}
	return &vecDir{n: n, chunks: chunks}
}

// AddIndexed adds n to index idx of vector id. An index the vector does not
// have yet (GrowVec was not called first) drops the write and counts it in
// Dropped. Worker goroutine only; never blocks or allocates.
func (sh *Shard) AddIndexed(id VecID, idx int, n uint64) {
	sh.owned()
	d := sh.vecs[id].Load()
	if uint(idx) >= uint(d.n) {
		storeOwned(&sh.slots[0], sh.slots[0]+1)
		return
	}
	p := &d.chunks[idx/chunkLen][idx%chunkLen]
	storeOwned(p, *p+n)
}

// AddIndexed adds n to index idx of vector id from any goroutine,
// atomically, on the Set's shared shard.
func (s *Set) AddIndexed(id VecID, idx int, n uint64) {
	sh := s.shared()
	d := sh.vecs[id].Load()
	if uint(idx) >= uint(d.n) {
		atomic.AddUint64(&sh.slots[0], 1)
		return
	}
	atomic.AddUint64(&d.chunks[idx/chunkLen][idx%chunkLen], n)
}

// VecValue returns index idx of vector id summed over the shards, from
// any goroutine, for a /status view: reading a few values this way costs
// a few loads per shard, where a Snapshot copies every vector (a scrape's
// work, milliseconds at 10,000 routes). An index out of range reads 0.
func (s *Set) VecValue(id VecID, idx int) uint64 {
	s.sealOnce()
	var sum uint64
	for _, sh := range s.shards {
		d := sh.vecs[id].Load()
		if uint(idx) < uint(d.n) {
			sum += atomic.LoadUint64(&d.chunks[idx/chunkLen][idx%chunkLen])
		}
	}
	return sum
}

// Dropped returns the number of AddIndexed writes dropped for an index out
// of range, summed over the shards: nonzero means a caller published an
// index before growing the vector.
func (s *Set) Dropped() uint64 { return s.sumSlot(0) }
