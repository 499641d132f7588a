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
// a byte-string value to the caller's buffer. Get, GetStale, Incr on an
// existing counter, TTL, Expire and a Set that fits the entry's current block
// allocate nothing (alloc_test.go holds these promises); creating counters
// allocates now and then (a new cell slab, amortized over the counters it
// holds).
//
// A Registry maps names to dicts as declared in configuration
// (shared_dicts: {limits: 10MiB}) and carries unchanged dicts across
// reloads. ParseSize reads sizes; Size is a config field type that decodes
// them from YAML or JSON text.
//
// # Memory ordering
//
// Reads and increments of existing counters take no lock; everything else
// takes the key's shard mutex. Which operations lock:
//
//   - lock-free: Get, GetStale and TTL of a present key (a miss is
//     confirmed under the lock, below), and Incr/IncrExisting on a key that
//     holds a live int64 counter whose result stays within ±2^61. They fall
//     back to the shard lock when they cannot finish lock-free: Incr that
//     creates or re-creates a counter (missing or expired key), that gets an
//     error other than overflow, or that moves a value past ±2^61; and any
//     of them after 8 attempts that raced a writer on the same entry;
//   - one shard lock: Set, SafeSet, Add, SafeAdd, Replace, Delete,
//     IncrFloat, Expire, and every eviction, compaction and table growth;
//   - each shard's lock in turn: FlushAll, FlushExpired, Keys, Len,
//     FreeSpace, Stats.
//
// What each operation guarantees:
//
//   - Each single-key operation (Get, GetStale, Set, SafeSet, Add, SafeAdd,
//     Replace, Delete, Incr, IncrExisting, IncrFloat, TTL, Expire) is atomic
//     and linearizable. Linearizability composes, so the whole dict is
//     linearizable for these operations: there is one total order of them,
//     consistent with real time, that every goroutine observes. A locked
//     write takes effect inside its critical section; a lock-free read takes
//     effect at its last successful validation (below); a lock-free Incr at
//     its atomic add (or compare-and-swap, past ±2^61).
//   - A lock-free read validates what it read with the entry's sequence
//     number: writers make it odd before they change the entry, its arena
//     bytes, its counter cell id or the block offset its index bucket
//     holds, and even after; a reader that saw the same even number before
//     and after its reads (one atomic load each) read one stored state,
//     never a torn one, and retries otherwise. A reader loads the key and
//     value at the bucket's block offset, not at the entry's, once it has
//     checked (between the two sequence loads) that the two are equal: the
//     same bytes, but the core can fetch them before the entry arrives. A miss
//     is confirmed under the shard's lock: a Set that moves a key to a new
//     block removes it from the index before it inserts it again, and a
//     walk between the two sees no key although the index's sequence
//     number is the same before and after it. So Get, GetStale and TTL of
//     a missing key take the lock (Incr of a missing key creates it under
//     the lock anyway). A write
//     that changes nothing a reader sees (an in-place Set of the same value,
//     flags and expiry) leaves the sequence number alone, and one that only
//     changes a counter's value stores it in the cell like an Incr.
//   - How the seqlocked words are stored and loaded depends on the build.
//     On amd64, writers store them with plain stores and readers load single
//     words with sync/atomic loads and copy or compare byte runs with
//     memmove and inline word loads: x86 keeps stores in order and loads in
//     order (TSO), which is all a seqlock needs, and every sync/atomic store
//     there is a locked instruction of 7-10 ns (tso_amd64.go says why the Go
//     compiler keeps that order too). Under the race detector, with -tags
//     purego, and on other architectures (arm64 may reorder a plain load
//     after the reader's closing load of the sequence number), every shared
//     word is stored and loaded with sync/atomic (portable.go).
//   - Read-modify-write operations are exact: Incr is one atomic add on the
//     counter's cell (a compare-and-swap loop for values past ±2^61), or
//     runs under the lock; Add and Replace decide and write in one critical
//     section. N goroutines doing M Incr of 1 on a counter that does not
//     expire meanwhile leave exactly N*M, and their results are exactly
//     1..N*M. An add that lands on a cell the lock holder just froze or
//     emptied does not count and is redone (cells.go).
//   - Synchronization: if an operation observes the effect of a write (a
//     Get sees a value a Set stored, an Incr sees another's increment),
//     everything the writing goroutine did before the write happens before
//     everything the observing goroutine does after, so a dict entry may
//     publish other data, like an atomic store-release/load-acquire. With
//     the portable accesses this is the Go memory model for sync/atomic and
//     sync.Mutex; with the amd64 ones it is x86's store and load order,
//     which gives every plain store release and every load acquire
//     semantics, while the compiler keeps the caller's accesses on their
//     side of the dict's atomic loads and of its calls.
//   - Values are copied in and out: no caller buffer is retained or written
//     after a call returns.
//   - Whether an entry has expired is decided by one clock read of the
//     operation that looks at it. A lock-free Incr checks the TTL before its
//     add, so an increment racing the expiry instant (or a FlushAll) may land
//     in the counter just after it expired; only GetStale can observe that.
//   - FlushAll, FlushExpired, Keys, Len, FreeSpace and Stats visit the
//     shards one after the other. Each shard's part is atomic, the whole is
//     not: a Set racing with FlushAll may survive it, and Keys is not a
//     snapshot of one instant.
//
// No method blocks on I/O, and every lock is held for a short, bounded time,
// so all of them may be called from an event loop. A reader never waits for
// a writer: it retries, and after a few attempts queues on the shard lock
// like a writer. FlushAll, FlushExpired and Keys walk whole shards
// (O(entries)) and belong to admin paths and timers.
//
// # Design
//
// A dict is split into a power-of-two number of shards picked by the top bits
// of the key's hash (wyhash, hash.go), each with its own sync.Mutex for
// writers, so workers on different keys rarely meet and there is no global
// lock. The request path (Get, Incr) writes no shared word but the entry it
// hits: a Get writes nothing at all once the entry's CLOCK bit is set, so
// any number of cores read one hot key without moving its cache line, and an
// Incr on a hot counter is one atomic add on that counter's cell: one
// cache-line transfer per increment instead of a mutex hand-off (lock, then
// unlock), and no compare-and-swap to fail and retry when cores collide.
//
// A shard keeps no Go pointer per entry, so millions of keys cost the garbage
// collector nothing to scan:
//
//   - an index from key hash to entry slot: an open-addressing table of
//     8-byte buckets, at most half full, grown by publishing a new table
//     (index.go); a bucket holds the slot as its entry segment and
//     position, so that a reader reaches the entry with a shift and a mask,
//     the arena offset of the entry's block, so that a reader that misses
//     the cache fetches the entry and the block at once instead of one
//     after the other, and a 7-bit tag of the hash, which skips all but
//     1/128 of the other keys' entries;
//   - a table of 64-byte entries, one cache line each (sequence number,
//     hash and flags, expiry, number, counter cell id, arena offset and
//     sizes, CLOCK bit, list links as slot numbers), in segments that never
//     move, so that an entry's sequence number stays meaningful to a reader
//     that found it through an old index table (shard.go);
//   - an arena of 8-byte words with one block per entry holding the key and
//     a byte value, bump-allocated and compacted in place when the garbage
//     left by deletes and growing values is needed; lock-free readers compare
//     keys and copy values out of it while writers change it, under the
//     entry's seqlock (arena.go);
//   - counter cells: one 8-byte cell per int64 value, never reused for
//     another counter (a cell whose counter ends is frozen; when the slab of
//     cells is used up, the live counters move to a new one), so a lock-free
//     Incr's add can never land on another key's counter (cells.go).
//
// The index started as a Go map[uint64]uint32; the hand-written table is
// one cache line per lookup instead of two or three and needs no collision
// chains, and readers can walk it with atomic loads.
//
// # Capacity, eviction, expiry
//
// Each entry is charged its arena block (8-byte header, key and value rounded
// up to 8 bytes; numbers and booleans live in the entry and its cell and take
// no value bytes) plus EntryOverhead for its table slot, index share and cell
// share. A shard never charges more than its capacity/shards share, and its
// arena never holds more bytes than that share, so resident memory stays
// close to the capacity (a full 10 MiB dict holds 1.05x to 1.12x its capacity on
// the heap, depending on entry sizes; TestResidentMemoryNearCapacity). A
// value overwritten by one that fits the old block is written in place and
// keeps the block's charge; a larger value moves to a new block. The entry
// table and the index grow with the number of entries and do not shrink
// when entries go; they are bounded by the most entries a shard can hold
// (its capacity / EntryOverhead), whose share EntryOverhead already charges.
//
// When a shard is full, Set, Add, Replace and Incr-with-init evict entries
// of that shard (expired or not) until the new entry fits; when reclaiming
// garbage requires compacting the arena they free up to capacity/16 more, so
// compaction costs an amortized constant per byte written. Eviction is CLOCK
// (second chance) per shard, not dict-wide: writes (Set, Add, Replace,
// IncrFloat, creating a counter) put the entry at the head of the shard's
// list; reads (Get, GetStale of a live entry, Incr of an existing counter)
// only set the entry's bit, one atomic store, and only if it is clear. The
// eviction hand starts at the list tail: an entry whose bit is set loses it
// and goes to the head, the first one whose bit is clear is evicted. TTL,
// Expire, failed writes and stale reads are not uses. On Zipf-distributed
// requests this keeps a hit ratio within a point of exact LRU
// (TestEvictionQualityZipf; it measured 0.1 to 0.7 points above it).
//
// Expired entries are not removed when they expire: like nginx, GetStale can
// still return them. They go when overwritten, when evicted, when a write
// that needs space sweeps up to two expired entries from its shard's list
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
