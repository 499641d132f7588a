package shm

import (
	"fmt"
	"math/bits"
	"time"
)

// Dict is a named, capacity-bounded key/value store shared by every worker:
// the ngx.shared.DICT of Sluice. See the package documentation for the
// memory-ordering guarantees.
//
// A Dict is safe for concurrent use by any number of goroutines. None of its
// methods block on I/O. Get, GetStale, TTL and Incr on an existing counter
// take no lock; the other methods take one shard lock for a short, bounded
// critical section (FlushAll, FlushExpired and Keys take each shard's lock in
// turn and are O(entries)). It must not be copied; use the *Dict from New.
type Dict struct {
	_          noCopy
	name       string
	capacity   int64
	shardShift uint // hash >> shardShift picks the shard
	shards     []shard
}

// Stats is a snapshot of a Dict's counters, summed over shards that were
// read one at a time (so not one atomic instant).
type Stats struct {
	Entries   int    // stored entries, expired ones not yet removed included
	Used      int64  // bytes counted against Capacity
	Capacity  int64  // as passed to New
	Evictions uint64 // entries (live or expired) evicted by writes to make room
	Expired   uint64 // expired entries removed by sweeps and FlushExpired
}

const (
	defaultShardBytes = 64 << 10
	maxDefaultShards  = 64
	maxShards         = 1024
	maxShardCapacity  = 1 << 31 // arena offsets are uint32
)

// New returns a Dict holding at most capacity bytes, counting keys, values
// and a fixed per-entry overhead (see Capacity). The capacity is split evenly
// between the shards; one entry must fit in one shard.
func New(capacity int64, opts ...Option) (*Dict, error) {
	o := dictOptions{clock: MonotonicClock}
	for _, opt := range opts {
		opt(&o)
	}
	n := o.shards
	if n <= 0 {
		n = int(min(max(capacity/defaultShardBytes, 1), maxDefaultShards))
	}
	n = min(1<<bits.Len(uint(n-1)), maxShards)
	for n < maxShards && capacity/int64(n) > maxShardCapacity {
		n *= 2
	}
	per := capacity / int64(n)
	if per < blockSize(1, 0)+entryOverhead || per > maxShardCapacity {
		return nil, fmt.Errorf("%w: capacity %d for %d shards", ErrBadSize, capacity, n)
	}
	d := &Dict{
		name:       o.name,
		capacity:   capacity,
		shardShift: uint(64 - bits.Len(uint(n-1))),
		shards:     make([]shard, n),
	}
	rest := capacity - per*int64(n)
	for i := range d.shards {
		c := per
		if int64(i) < rest {
			c++
		}
		d.shards[i].init(c, o.clock)
	}
	return d, nil
}

// shardFor hashes key and returns its shard. The top bits pick the shard, so
// the index maps inside a shard still see well-spread low bits. With one
// shard the shift is 64, which Go defines to give 0.
func (d *Dict) shardFor(key []byte) (*shard, uint64) {
	h := hashKey(key)
	return &d.shards[h>>d.shardShift], h
}

func checkKey(key []byte) error {
	switch {
	case validKeyLen(key):
		return nil
	case len(key) == 0:
		return ErrEmptyKey
	}
	return ErrKeyTooLarge
}

// validKeyLen reports whether key has 1 to MaxKeyLen bytes: one compare,
// for the paths that only need to know.
func validKeyLen(key []byte) bool { return uint(len(key))-1 < MaxKeyLen }

func checkWrite(key []byte, v *Value, ttl time.Duration) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if v.Kind == KindNone || v.Kind > KindBool {
		return ErrBadKind
	}
	if ttl < 0 {
		return ErrBadTTL
	}
	return nil
}

// Name returns the name given with WithName, or "".
func (d *Dict) Name() string { return d.name }

// Get returns the value of key if it is present and not expired, and marks
// it as used (its CLOCK bit, see the package documentation). It takes no
// lock. A byte-string value is appended to dst and returned in
// v.Bytes (the extended dst, as strconv.AppendInt does); for other kinds, and
// on a miss, v.Bytes is dst unchanged. Pass buf[:0] to receive just the value
// and keep v.Bytes[:0] as the next buffer. Get allocates only when dst is too
// short for the value.
func (d *Dict) Get(key, dst []byte) (v Value, ok bool) {
	// Small enough to be inlined, so that get fills the caller's Value in
	// place: a 56-byte result returned in registers is spilled and copied
	// with wide loads of narrow stores, a store-forwarding stall. v.Bytes
	// is stored here, in the caller's frame, where a pointer store needs
	// no write barrier.
	v.Bytes = dst
	_, ok = d.get(key, dst, false, &v)
	return v, ok
}

// GetStale is Get that also returns expired entries not yet removed, with
// stale set. A stale entry is not marked as used.
func (d *Dict) GetStale(key, dst []byte) (v Value, stale, ok bool) {
	v.Bytes = dst
	stale, ok = d.get(key, dst, true, &v)
	return v, stale, ok
}

// Set stores v under key for ttl (0: never expires), evicting entries of the
// key's shard (CLOCK order) when it is full. v's bytes are copied.
// Overwriting a value with one that fits the old block is done in place and
// allocates nothing.
func (d *Dict) Set(key []byte, v Value, ttl time.Duration) error {
	return d.store(key, &v, ttl, opSet, false)
}

// SafeSet is Set that never evicts a live entry: it returns ErrNoMemory when
// the shard is full. It may still remove expired entries.
func (d *Dict) SafeSet(key []byte, v Value, ttl time.Duration) error {
	return d.store(key, &v, ttl, opSet, true)
}

// Add is Set that returns ErrExists when key is present and not expired.
func (d *Dict) Add(key []byte, v Value, ttl time.Duration) error {
	return d.store(key, &v, ttl, opAdd, false)
}

// SafeAdd is Add that never evicts a live entry (see SafeSet).
func (d *Dict) SafeAdd(key []byte, v Value, ttl time.Duration) error {
	return d.store(key, &v, ttl, opAdd, true)
}

// Replace is Set that returns ErrNotFound when key is absent or expired.
func (d *Dict) Replace(key []byte, v Value, ttl time.Duration) error {
	return d.store(key, &v, ttl, opReplace, false)
}

func (d *Dict) store(key []byte, v *Value, ttl time.Duration, op storeOp, safe bool) error {
	if err := checkWrite(key, v, ttl); err != nil {
		return err
	}
	s, h := d.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store(h, key, v, ttl, op, safe)
}

// Delete removes key and reports whether it was present and not expired.
func (d *Dict) Delete(key []byte) bool {
	if !validKeyLen(key) {
		return false
	}
	s, h := d.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(h, key)
}

// Incr adds delta to the int64 counter at key and returns the new value.
// If key is absent or expired, the counter starts at init+delta with
// initTTL (0: never expires) and flags 0; an existing counter keeps its TTL.
// The int64 arithmetic is exact under any concurrency: N goroutines doing M
// Incr(key, 1, 0, ttl) on a key that does not expire meanwhile leave N*M.
// Errors: ErrNotAnInteger (a float64 value), ErrNotANumber (bytes or bool),
// ErrOverflow (the value is left unchanged). When the counter has to be
// created and the shard is full, Incr evicts like Set.
// Incr on an existing counter whose value stays within ±2^61 takes no lock
// (one atomic add on the counter) and allocates nothing; creating a counter
// takes the shard lock.
func (d *Dict) Incr(key []byte, delta, init int64, initTTL time.Duration) (int64, error) {
	return d.incr(key, delta, true, init, initTTL)
}

// IncrExisting is Incr without an initial value: it returns ErrNotFound when
// key is absent or expired.
func (d *Dict) IncrExisting(key []byte, delta int64) (int64, error) {
	return d.incr(key, delta, false, 0, 0)
}

// IncrFloat adds delta to a numeric value at key as float64 and returns the
// new value; an int64 value becomes a float64. Missing or expired keys start
// at init+delta with initTTL, as in Incr. Bytes and bool values give
// ErrNotANumber.
func (d *Dict) IncrFloat(key []byte, delta, init float64, initTTL time.Duration) (float64, error) {
	s, h, err := d.lockKey(key, initTTL)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return s.incrFloat(h, key, delta, init, initTTL)
}

// lockKey validates key and ttl and returns the key's shard, locked: the
// caller must unlock it.
func (d *Dict) lockKey(key []byte, ttl time.Duration) (*shard, uint64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	if ttl < 0 {
		return nil, 0, ErrBadTTL
	}
	s, h := d.shardFor(key)
	s.mu.Lock()
	return s, h, nil
}

// TTL returns the time left before key expires, or 0 if it never expires.
// It returns ErrNotFound when key is absent or expired. It takes no lock.
func (d *Dict) TTL(key []byte) (time.Duration, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	s, h := d.shardFor(key)
	return s.ttl(h, key)
}

// Expire sets the TTL of a live key from now (0: never expires). It returns
// ErrNotFound when key is absent or expired.
func (d *Dict) Expire(key []byte, ttl time.Duration) error {
	s, h, err := d.lockKey(key, ttl)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.expire(h, key, ttl)
}

// FlushAll marks every entry expired, as ngx's flush_all: memory is
// reclaimed lazily (sweeps, eviction, overwrite) or by FlushExpired, and
// GetStale still returns the flushed values until then. Shards are flushed
// one after the other, not atomically.
func (d *Dict) FlushAll() {
	d.eachShard(func(s *shard) bool {
		s.flushAll()
		return true
	})
}

// FlushExpired removes up to max expired entries (all when max <= 0) and
// returns how many it removed.
func (d *Dict) FlushExpired(max int) int {
	n := 0
	d.eachShard(func(s *shard) bool {
		n += s.flushExpired(max - n)
		return max <= 0 || n < max
	})
	return n
}

// Keys returns up to max live keys (all when max <= 0; ngx's default is
// 1024), each shard's most recently written first. It allocates the strings and
// holds each shard's lock while walking it: meant for admin views, not for
// the request path.
func (d *Dict) Keys(max int) []string {
	var keys []string
	d.eachShard(func(s *shard) bool {
		keys = s.appendKeys(keys, max)
		return max <= 0 || len(keys) < max
	})
	return keys
}

// eachShard calls fn on every shard in turn with its lock held, until fn
// returns false. It is for whole-dict operations, not the per-key path.
func (d *Dict) eachShard(fn func(s *shard) bool) {
	for i := range d.shards {
		if !d.shards[i].withLock(fn) {
			return
		}
	}
}

func (s *shard) withLock(fn func(s *shard) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(s)
}

// Capacity returns the capacity given to New. Every entry counts
// 8-byte-rounded (8 + len(key) + len(bytes value)) bytes plus a fixed
// overhead for its table slot and index share (EntryOverhead).
func (d *Dict) Capacity() int64 { return d.capacity }

// FreeSpace returns the bytes not counted against the capacity, summed over
// shards. Space freed by deletes is included (it is reclaimed by compaction
// when needed). One entry can only use the free space of its own shard.
func (d *Dict) FreeSpace() int64 {
	st := d.Stats()
	return st.Capacity - st.Used
}

// Len returns the number of stored entries, expired ones not yet removed
// included.
func (d *Dict) Len() int { return d.Stats().Entries }

// Stats returns the dict's counters.
func (d *Dict) Stats() Stats {
	st := Stats{Capacity: d.capacity}
	d.eachShard(func(s *shard) bool {
		st.Entries += s.count
		st.Used += s.used()
		st.Evictions += s.evictions
		st.Expired += s.expired
		return true
	})
	return st
}
