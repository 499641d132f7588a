package stats

import (
	"sync/atomic"
	"unsafe"
)

// Shard is one worker's block of metrics. Its write methods (Add, AddGauge,
// Observe, ObserveNanos, AddIndexed) may be called only from the goroutine of
// the worker that owns it, one call at a time: each is a plain load and a
// store to memory no other goroutine writes, with no lock, no read-modify-
// write instruction and no allocation, so they never block and are safe on
// an event loop. Readers (Set.Snapshot and the other reads) load the same
// words atomically from any goroutine.
//
// A Shard must not be copied; use the *Shard from Set.Shard.
type Shard struct {
	_ noCopy
	// slots holds counters, gauges and histogram words at the offsets the
	// Set assigned, inside cache-line padding (see paddedSlots).
	slots []uint64
	hists []histLayout // the Set's, read-only
	vecs  []atomic.Pointer[vecDir]
	// raceOwner is written plainly by every write method in race builds
	// only, so the race detector reports two goroutines writing one shard
	// (the atomic stores of race builds would hide that misuse).
	raceOwner uint64
}

// Add adds n to counter id. Worker goroutine only; never blocks or allocates.
func (sh *Shard) Add(id CounterID, n uint64) {
	sh.owned()
	p := &sh.slots[id]
	storeOwned(p, *p+n)
}

// Inc adds one to counter id. Worker goroutine only; never blocks or
// allocates.
func (sh *Shard) Inc(id CounterID) { sh.Add(id, 1) }

// AddGauge adds delta (negative to decrease) to this worker's part of gauge
// id; a read sums the parts. Worker goroutine only; never blocks or
// allocates.
func (sh *Shard) AddGauge(id GaugeID, delta int64) {
	sh.owned()
	p := &sh.slots[id]
	storeOwned(p, *p+uint64(delta))
}

// owned marks a write for the race detector; it compiles to nothing in
// normal builds.
func (sh *Shard) owned() {
	if raceEnabled {
		sh.raceOwner++
	}
}

// Add adds n to counter id from any goroutine (a dial or timer goroutine,
// the admin API): an atomic add on the Set's shared shard. Workers use their
// Shard instead.
func (s *Set) Add(id CounterID, n uint64) {
	atomic.AddUint64(&s.shared().slots[id], n)
}

// AddGauge adds delta to gauge id from any goroutine, atomically.
func (s *Set) AddGauge(id GaugeID, delta int64) {
	atomic.AddUint64(&s.shared().slots[id], uint64(delta))
}

// CounterValue returns counter id summed over the shards, from any
// goroutine, for a /status view or a test; a scrape takes a Snapshot. The
// sum may miss writes in flight, never tears, and never goes down.
func (s *Set) CounterValue(id CounterID) uint64 { return s.sumSlot(int(id)) }

// GaugeValue returns gauge id summed over the shards, from any goroutine.
// Like CounterValue it is not one instant's value: a connection opened on one worker
// and closed on another may be seen closed and not yet opened, so a sum may
// transiently be off by the writes in flight (even negative).
func (s *Set) GaugeValue(id GaugeID) int64 { return int64(s.sumSlot(int(id))) }

func (s *Set) sumSlot(i int) uint64 {
	s.sealOnce()
	var sum uint64
	for _, sh := range s.shards {
		sum += atomic.LoadUint64(&sh.slots[i])
	}
	return sum
}

// is64bit is true where a uint64 is one machine word.
const is64bit = ^uint(0)>>63 == 1

// storeOwned stores v to *p, a word only the calling goroutine writes and
// other goroutines read with atomic loads.
//
// On 64-bit platforms outside race builds this is a plain store. The Go
// memory model guarantees a racy read of a word-sized location observes
// some single write (no tearing), which is all a reader of a counter needs.
// An atomic store would buy nothing here, and costs: on amd64
// atomic.StoreUint64 is an XCHG, implicitly locked, measured as slow as the
// LOCK XADD of atomic.AddUint64 (about 6 ns against about 1.5 ns). Race
// builds use the atomic store so the race detector checks the rest, and
// 32-bit platforms use it because a uint64 is two words there.
func storeOwned(p *uint64, v uint64) {
	if is64bit && !raceEnabled {
		*p = v
	} else {
		atomic.StoreUint64(p, v)
	}
}

// padWords keeps a shard's words away from any other object's cache lines:
// 128 bytes covers a 64-byte line plus the adjacent line x86 prefetches in
// pairs, and the 128-byte lines of Apple's arm64 and POWER.
const padWords = 128 / int(unsafe.Sizeof(uint64(0)))

// paddedSlots allocates n words with padWords of unused words on each side,
// so no other allocation (another worker's shard included) shares a cache
// line with them.
func paddedSlots(n int) []uint64 {
	buf := make([]uint64, padWords+n+padWords)
	return buf[padWords : padWords+n : padWords+n]
}
