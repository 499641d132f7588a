// Package shm is Sluice's shared dictionary, the ngx.shared.DICT of the
// gateway: named, capacity-bounded key/value stores that every worker reads
// and writes, holding rate-limit counters, the L1 response cache, health
// state and user policies' state.
//
// # API
//
// A Dict stores byte strings, int64 and float64 numbers and booleans
// (Value), each with 32 user flags and an optional TTL. Operations follow
// ngx.shared.DICT: Get, GetStale, Set, SafeSet, Add, SafeAdd, Replace,
// Delete, Incr (with init and initTTL), IncrExisting, IncrFloat, TTL,
// Expire, FlushAll, FlushExpired, Keys, Capacity, FreeSpace. Keys are []byte
// so a caller that builds keys in a reusable buffer never allocates; the
// *String methods are conveniences that do not allocate either. Get appends
// a byte-string value to the caller's buffer. Get, GetStale, Incr, TTL,
// Expire and a Set that fits the entry's current block allocate nothing
// (alloc_test.go holds these promises).
//
// A Registry maps names to dicts as declared in configuration
// (shared_dicts: {limits: 10MiB}) and carries unchanged dicts across
// reloads. ParseSize reads sizes; Size is a config field type that decodes
// them from YAML or JSON text.
//
// # Memory ordering
//
// Every operation on a key runs entirely inside one critical section of the
// key's shard mutex, so:
//
//   - Each single-key operation (Get, GetStale, Set, SafeSet, Add, SafeAdd,
//     Replace, Delete, Incr, IncrExisting, IncrFloat, TTL, Expire) is atomic
//     and linearizable. Linearizability composes, so the whole dict is
//     linearizable for these operations: there is one total order of them,
//     consistent with real time, that every goroutine observes.
//   - Read-modify-write operations are exact: Incr, Add and Replace decide
//     and write in the same critical section. N goroutines doing M Incr of 1
//     on a counter that does not expire meanwhile leave exactly N*M.
//   - Synchronization follows the Go memory model for sync.Mutex: if an
//     operation observes the effect of a write (a Get sees a value a Set
//     stored), everything the writing goroutine did before the write happens
//     before everything the reading goroutine does after the read. So a dict
//     entry may publish other data, like an atomic store-release/load-acquire.
//   - Values are copied in and out under the lock: a reader never sees a
//     torn value, and no caller buffer is retained or written after a call
//     returns.
//   - Whether an entry has expired is decided by one clock read inside the
//     critical section of the operation that looks at it.
//   - FlushAll, FlushExpired, Keys, Len, FreeSpace and Stats visit the
//     shards one after the other. Each shard's part is atomic, the whole is
//     not: a Set racing with FlushAll may survive it, and Keys is not a
//     snapshot of one instant.
//
// Every method holds a lock for a short, bounded time and never does I/O, so
// all of them may be called from an event loop. FlushAll, FlushExpired and
// Keys walk whole shards (O(entries)) and belong to admin paths and timers.
//
// # Design
//
// A dict is split into a power-of-two number of shards picked by the top bits
// of the key's xxhash, each with its own sync.Mutex, so workers on different
// keys rarely meet and there is no global lock. A plain Mutex rather than an
// RWMutex: a Get marks its entry as recently used, which is a write, so every
// operation writes, and critical sections are a few tens of nanoseconds.
// A hot key (one rate-limit counter hit by every worker) serializes on its
// shard's mutex; the increment itself is a few instructions, so the lock is
// held very briefly.
//
// A shard keeps no Go pointer per entry, so millions of keys cost the garbage
// collector nothing to scan:
//
//   - an index from key hash to entry slot: an open-addressing table of
//     8-byte buckets, at most half full (index.go);
//   - a table of fixed 56-byte entries (hash, expiry, number, flags, arena
//     offset and sizes, LRU links as slot numbers);
//   - an arena []byte with one block per entry holding the key and a byte
//     value, bump-allocated and compacted in place when the garbage left by
//     deletes and growing values is needed (see arena.go).
//
// The index started as a Go map[uint64]uint32; the hand-written table is
// one cache line per lookup instead of two or three and needs no collision
// chains, which matters because an uncontended Incr is dominated by cache
// misses (index, entry, key bytes, LRU neighbours), not by instructions.
//
// # Capacity, eviction, expiry
//
// Each entry is charged its arena block (8-byte header, key and value rounded
// up to 8 bytes; numbers and booleans live in the entry and take no value
// bytes) plus EntryOverhead for its table slot and index share. A shard never
// charges more than its capacity/shards share, and its arena never holds more
// bytes than that share, so resident memory stays close to the capacity
// (a full 10 MiB dict holds 1.06x to 1.15x its capacity on the heap,
// depending on entry sizes; TestResidentMemoryNearCapacity). A
// value overwritten by one that fits the old block is written in place and
// keeps the block's charge; a larger value moves to a new block. The entry
// table and the index grow with the number of entries and do not shrink
// when entries go; they are bounded by the most entries a shard can hold
// (its capacity / EntryOverhead), whose share EntryOverhead already charges.
//
// When a shard is full, Set, Add, Replace and Incr-with-init evict the least
// recently used entries of that shard (expired or not) until the new entry
// fits; when reclaiming garbage requires compacting the arena they free up to
// capacity/16 more, so compaction costs an amortized constant per byte
// written. Eviction is LRU per shard, not dict-wide. Get, GetStale of a live
// entry, the write operations and Incr count as uses; TTL, Expire, failed
// writes and stale reads do not.
//
// Expired entries are not removed when they expire: like nginx, GetStale can
// still return them. They go when overwritten, when evicted, when a write
// that needs space sweeps up to two expired entries from its shard's LRU
// tail, and when FlushExpired runs (call it from a timer to bound memory held
// by dead entries). FlushAll marks everything expired in O(entries).
//
// Time comes from a Clock (monotonic nanoseconds), MonotonicClock by default.
// The clock is read only by operations that store or inspect an entry with a
// TTL; a CoarseClock makes those reads one atomic load at the price of
// TTL granularity.
//
// Limits: keys are 1 to MaxKeyLen bytes; one entry must fit in one shard
// (capacity/shards), so dicts meant for large cached bodies should use fewer
// shards (WithShards).
package shm
