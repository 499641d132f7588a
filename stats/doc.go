// Package stats holds the gateway's counters, gauges and histograms as
// per-worker shards that each worker writes alone and a reader sums: the
// request path takes no lock and writes no cache line another worker
// writes, and allocates nothing.
//
// It is its own package because every layer writes metrics (engine, lb,
// policies, pool) and admin/ exposes them: it sits below all of them,
// imports nothing of the gateway and not Prometheus; admin/'s collector
// turns a Snapshot into Prometheus metrics.
//
// # Model
//
// A Set is built once at startup: NewSet(workers), then Counter, Gauge,
// Histogram, DurationHistogram and CounterVec register metrics and return
// small integer IDs. Set.Shard(w) gives worker w its Shard, and the worker
// writes with Shard.Add, AddGauge, Observe/ObserveNanos and AddIndexed.
// Goroutines that are not workers (dials, timers, the admin API) write
// through the Set's methods of the same names, which use atomic adds on one
// extra shard. Set.Snapshot sums the shards for a scrape; CounterValue and
// GaugeValue sum one metric for a status view.
//
// # Concurrency
//
//   - Registration: one goroutine, before the first Shard, Snapshot, read or
//     Set-level write, which closes it (later registration panics).
//   - Shard write methods: only the owning worker's goroutine. In race
//     builds each write also touches a plain per-shard word, so the race
//     detector reports a shard written from two goroutines.
//   - Everything else on Set (Shard, GrowVec, the Set-level writes, the
//     reads, Descs): any goroutine.
//   - A Snapshot or HistogramValue: one goroutine at a time.
//
// # What a reader sees
//
// Sums are not linearizable across shards: a reader visits the shards one
// after the other while workers write, so it may miss the writes in flight,
// and a gauge incremented on one worker and decremented on another may
// transiently sum to one off. Every word is read with an atomic load and
// written whole, so no value is torn, and each shard's counters only grow,
// so a counter's sum never decreases between two reads. For counters and
// gauges that is all Prometheus asks.
//
// # The write path
//
// A shard has one writer, so an increment needs no read-modify-write
// instruction: the writer loads its own word and stores the new value. On
// 64-bit platforms outside race builds the store is a plain store (see
// storeOwned): the Go memory model guarantees that a word-sized racy read
// observes one whole write, and readers load atomically. An atomic store is
// not the cheaper alternative it looks: on amd64 Go's atomic.StoreUint64 is
// an XCHG, which is implicitly locked, and measured as slow as the LOCK
// XADD of atomic.AddUint64 (about 6 ns against 1.5 ns uncontended). Race
// builds and 32-bit platforms use the atomic store.
//
// Each shard's words are allocated with 128 bytes of padding on both sides
// (a cache line and the neighbour x86 prefetches with it), and vector chunks
// are 512-byte objects that Go aligns to 512 bytes, so no two workers, and
// no other object, share a line with a worker's counters. The padding is
// hand-written rather than golang.org/x/sys/cpu.CacheLinePad, which is 64
// bytes on amd64 and only an indirect dependency of the module.
//
// # Histograms
//
// Histograms count integers: nanoseconds for a DurationHistogram (bounds in
// seconds), bytes or items for a Histogram. Registration turns each float
// bound into the largest integer that belongs to its bucket, by the exact
// comparison Prometheus would make on the float value (d.Seconds() <= le),
// so the hot path finds a bucket by binary search over int64s. A value
// exactly on a bound counts in that bound's bucket. The sum is a float64 in
// integer units, added by the owning worker; a read scales it to the bounds'
// unit. Count is not stored: it is the +Inf bucket of the cumulative counts,
// so count and buckets always agree.
//
// # Vectors
//
// A CounterVec is indexed by a number the caller assigns (a route index),
// and grows only when the caller says so with GrowVec, at config-swap time.
// Each shard sees its vector through a directory of 64-counter chunks held
// in an atomic pointer. Growing allocates new chunks and publishes a new
// directory that shares the old chunks: counters never move, so a worker
// that still holds the old directory writes to the same words readers of the
// new one sum, and GrowVec can run on the control plane while workers write,
// without their cooperation and without losing a write. (A flat array copied
// on growth would need the owning worker to do the copy, or lose the writes
// that land in the old array after it; the price of chunks is one more
// dependent load per AddIndexed.) Writes to an index not grown yet are
// dropped and counted (Set.Dropped).
//
// Not here yet: histogram vectors, and removing a series; a vector index
// keeps its count for the Set's life.
package stats
