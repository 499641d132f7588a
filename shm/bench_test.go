package shm

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/puzpuzpuz/xsync/v3"
)

// Benchmarks: Dict beside three baselines that share one interface (a
// sync.RWMutex map, sync.Map and xsync.MapOf, all string -> *int64 counter or
// []byte value). The baselines have no capacity bound, no TTL and no eviction, so
// they are the floor, not a like-for-like competitor. Run with
//
//	go test -run '^$' -bench . -benchtime 1s ./shm/

const benchKeys = 1 << 14

var benchKeyBytes = func() [][]byte {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = []byte("limit:consumer:" + strconv.Itoa(i) + ":route:42")
	}
	return keys
}()

var benchValue = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// kv is the operation set the benchmarks need from each implementation.
type kv interface {
	get(key []byte, dst []byte) ([]byte, bool)
	set(key []byte, val []byte)
	incr(key []byte, delta int64) int64
}

type dictKV struct{ d *Dict }

func (k dictKV) get(key, dst []byte) ([]byte, bool) {
	v, ok := k.d.Get(key, dst)
	return v.Bytes, ok
}
func (k dictKV) set(key, val []byte) { _ = k.d.Set(key, BytesValue(val), 0) }
func (k dictKV) incr(key []byte, delta int64) int64 {
	n, _ := k.d.Incr(key, delta, 0, 0)
	return n
}

// dictTTLKV is the rate-limit shape: every counter has a TTL, so every Incr
// reads the clock.
type dictTTLKV struct{ d *Dict }

func (k dictTTLKV) get(key, dst []byte) ([]byte, bool) {
	v, ok := k.d.Get(key, dst)
	return v.Bytes, ok
}
func (k dictTTLKV) set(key, val []byte) { _ = k.d.Set(key, BytesValue(val), time.Hour) }
func (k dictTTLKV) incr(key []byte, delta int64) int64 {
	n, _ := k.d.Incr(key, delta, 0, time.Hour)
	return n
}

// rwMapKV is the simplest correct version: one RWMutex over a map.
type rwMapKV struct {
	mu sync.RWMutex
	m  map[string]*rwEntry
}

type rwEntry struct {
	n   atomic.Int64
	val []byte
}

func (k *rwMapKV) get(key, dst []byte) ([]byte, bool) {
	k.mu.RLock()
	e, ok := k.m[string(key)]
	if ok {
		dst = append(dst, e.val...)
	}
	k.mu.RUnlock()
	return dst, ok
}

func (k *rwMapKV) set(key, val []byte) {
	k.mu.Lock()
	if e, ok := k.m[string(key)]; ok && cap(e.val) >= len(val) {
		e.val = append(e.val[:0], val...)
	} else {
		k.m[string(key)] = &rwEntry{val: append([]byte(nil), val...)}
	}
	k.mu.Unlock()
}

func (k *rwMapKV) incr(key []byte, delta int64) int64 {
	k.mu.RLock()
	e, ok := k.m[string(key)]
	k.mu.RUnlock()
	if !ok {
		k.mu.Lock()
		if e, ok = k.m[string(key)]; !ok {
			e = &rwEntry{}
			k.m[string(key)] = e
		}
		k.mu.Unlock()
	}
	return e.n.Add(delta)
}

// syncMapKV is sync.Map; its string keys force a conversion per lookup
// unless the compiler elides it (it does for map[string] index, not for
// sync.Map's any key), which is part of what the baseline shows.
type syncMapKV struct{ m sync.Map }

func (k *syncMapKV) get(key, dst []byte) ([]byte, bool) {
	e, ok := k.m.Load(string(key))
	if ok {
		dst = append(dst, e.(*rwEntry).val...)
	}
	return dst, ok
}

func (k *syncMapKV) set(key, val []byte) {
	k.m.Store(string(key), &rwEntry{val: append([]byte(nil), val...)})
}

func (k *syncMapKV) incr(key []byte, delta int64) int64 {
	e, ok := k.m.Load(string(key))
	if !ok {
		e, _ = k.m.LoadOrStore(string(key), &rwEntry{})
	}
	return e.(*rwEntry).n.Add(delta)
}

type xsyncKV struct {
	m *xsync.MapOf[string, *rwEntry]
}

func (k xsyncKV) get(key, dst []byte) ([]byte, bool) {
	e, ok := k.m.Load(string(key))
	if ok {
		dst = append(dst, e.val...)
	}
	return dst, ok
}

func (k xsyncKV) set(key, val []byte) {
	k.m.Store(string(key), &rwEntry{val: append([]byte(nil), val...)})
}

func (k xsyncKV) incr(key []byte, delta int64) int64 {
	e, ok := k.m.Load(string(key))
	if !ok {
		e, _ = k.m.LoadOrStore(string(key), &rwEntry{})
	}
	return e.n.Add(delta)
}

func benchImpls(b *testing.B) []struct {
	name string
	kv   func() kv
} {
	return []struct {
		name string
		kv   func() kv
	}{
		{"shm", func() kv { return dictKV{mustNew(b, 64<<20)} }},
		{"shm-ttl", func() kv { return dictTTLKV{mustNew(b, 64<<20)} }},
		{"shm-ttl-coarse", func() kv {
			c := NewCoarseClock(time.Millisecond)
			b.Cleanup(c.Stop)
			return dictTTLKV{mustNew(b, 64<<20, WithClock(c.Now))}
		}},
		{"rwmutex-map", func() kv { return &rwMapKV{m: make(map[string]*rwEntry)} }},
		{"sync.Map", func() kv { return &syncMapKV{} }},
		{"xsync.MapOf", func() kv { return xsyncKV{xsync.NewMapOf[string, *rwEntry]()} }},
	}
}

func fill(k kv) {
	for _, key := range benchKeyBytes {
		k.set(key, benchValue)
		k.incr(append(key, ":n"...), 1)
	}
}

var counterKeys = func() [][]byte {
	keys := make([][]byte, benchKeys)
	for i, k := range benchKeyBytes {
		keys[i] = append(append([]byte(nil), k...), ":n"...)
	}
	return keys
}()

// benchOp is one operation on key number i of an implementation; dst is a
// reusable buffer the operation may return grown.
type benchOp func(k kv, i int, dst []byte) []byte

// benchShapes runs op against every implementation in four shapes: one
// goroutine on key 0 (everything in cache: the instruction cost), one
// goroutine cycling over benchKeys keys (cache misses included),
// GOMAXPROCS goroutines cycling over them from different starting points,
// and GOMAXPROCS goroutines on key 0 (one hot counter).
func benchShapes(b *testing.B, op benchOp) {
	for _, impl := range benchImpls(b) {
		k := impl.kv()
		fill(k)
		b.Run(impl.name+"/one-key", func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]byte, 0, 128)
			cpu := startThreadCPU()
			for b.Loop() {
				dst = op(k, 0, dst[:0])
			}
			cpu.report(b)
		})
		b.Run(impl.name+"/uncontended", func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]byte, 0, 128)
			cpu := startThreadCPU()
			for i := 0; b.Loop(); i++ {
				dst = op(k, i&(benchKeys-1), dst[:0])
			}
			cpu.report(b)
		})
		b.Run(impl.name+"/parallel-spread", func(b *testing.B) {
			b.ReportAllocs()
			var seed atomic.Uint32
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]byte, 0, 128)
				for i := int(seed.Add(7919)); pb.Next(); i++ {
					dst = op(k, i&(benchKeys-1), dst[:0])
				}
			})
		})
		b.Run(impl.name+"/parallel-hot", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]byte, 0, 128)
				for pb.Next() {
					dst = op(k, 0, dst[:0])
				}
			})
		})
	}
}

// threadCPU measures the benchmark goroutine's own CPU time, reported as
// cpu-ns/op beside ns/op: on a shared, loaded machine wall time per op
// includes waiting for a core, CPU time does not.
type threadCPU struct {
	start int64
	ok    bool
}

func startThreadCPU() threadCPU {
	runtime.LockOSThread()
	start, ok := threadCPUNanos()
	return threadCPU{start: start, ok: ok}
}

func (c threadCPU) report(b *testing.B) {
	end, ok := threadCPUNanos()
	runtime.UnlockOSThread()
	if c.ok && ok && b.N > 0 {
		b.ReportMetric(float64(end-c.start)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkGet(b *testing.B) {
	benchShapes(b, func(k kv, i int, dst []byte) []byte {
		dst, _ = k.get(benchKeyBytes[i], dst)
		return dst
	})
}

// BenchmarkGetShuffled is BenchmarkGet's uncontended shape with the 16 K
// keys visited in a fixed shuffled order instead of 0, 1, 2, ...: the map
// baseline allocates each key's string, entry and value in fill order, and
// the dict fills each shard's entries and arena blocks in that order too,
// so the sequential walk reads both partly in address order, which the
// hardware prefetcher streams. Shuffled, each pays for every cache miss.
func BenchmarkGetShuffled(b *testing.B) {
	order := rand.New(rand.NewPCG(1, 2)).Perm(benchKeys)
	for _, impl := range benchImpls(b) {
		if impl.name != "shm" && impl.name != "rwmutex-map" {
			continue
		}
		k := impl.kv()
		fill(k)
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]byte, 0, 128)
			cpu := startThreadCPU()
			for i := 0; b.Loop(); i++ {
				dst, _ = k.get(benchKeyBytes[order[i&(benchKeys-1)]], dst[:0])
			}
			cpu.report(b)
		})
	}
}

func BenchmarkSet(b *testing.B) {
	benchShapes(b, func(k kv, i int, dst []byte) []byte {
		k.set(benchKeyBytes[i], benchValue)
		return dst
	})
}

func BenchmarkIncr(b *testing.B) {
	benchShapes(b, func(k kv, i int, dst []byte) []byte {
		k.incr(counterKeys[i], 1)
		return dst
	})
}

// BenchmarkSetChanging overwrites one key in place with two 64-byte values
// in turn. BenchmarkSet/*/one-key stores the same value again and again,
// which the dict (not the baselines) turns into a comparison: it leaves
// words that already hold the bytes alone, since each atomic store is a
// locked instruction. This is the in-place cost when the bytes change.
func BenchmarkSetChanging(b *testing.B) {
	d := mustNew(b, 64<<20)
	other := []byte("fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210")
	values := [2]Value{BytesValue(benchValue), BytesValue(other)}
	b.ReportAllocs()
	cpu := startThreadCPU()
	for i := 0; b.Loop(); i++ {
		_ = d.Set(benchKeyBytes[0], values[i&1], 0)
	}
	cpu.report(b)
}

// BenchmarkSetEvict measures Set of new keys into a full dict: every Set
// evicts, and compaction runs once per capacity/16 bytes written.
func BenchmarkSetEvict(b *testing.B) {
	d := mustNew(b, 1<<20)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = d.Set(benchKeyBytes[i&(benchKeys-1)], BytesValue(benchValue), 0)
	}
	b.ReportMetric(float64(d.Stats().Evictions)/float64(b.N), "evictions/op")
}

// BenchmarkIncrHotOversubscribed runs 1, 4 and 16 goroutines per P on one
// counter: more workers than cores all hitting one rate limit, to show
// whether the shard mutex collapses into a convoy (it should not: the
// critical section is a few tens of nanoseconds).
func BenchmarkIncrHotOversubscribed(b *testing.B) {
	d := mustNew(b, 64<<20)
	key := []byte("limit:consumer:hot")
	for _, perProc := range []int{1, 4, 16} {
		b.Run(strconv.Itoa(perProc)+"-per-P", func(b *testing.B) {
			b.SetParallelism(perProc)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, _ = d.Incr(key, 1, 0, time.Hour)
				}
			})
		})
	}
}

var parallelFloorSink atomic.Uint64

// BenchmarkParallelFloor is a pure-CPU loop with no shared memory, run with
// -cpu 1,2,...: if it does not get faster per op as -cpu grows, the machine
// (other load, too few free cores) is what limits every parallel figure,
// not the code under test.
func BenchmarkParallelFloor(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		x := uint64(1)
		for pb.Next() {
			for range 20 {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}
		parallelFloorSink.Add(x)
	})
}

// BenchmarkIncrFloor measures what any lock-free Incr of an existing
// counter must at least do, on this machine, with the package's CPU-time
// metric: the atomic add alone; the key's hash, then the add on a cell the
// hash picks; and the hash, then a chain of dependent loads as long as the
// dict's (index bucket, entry segment, entry, cell slab, cell), then the
// add. A locked instruction waits for everything before it to retire and
// holds back the loads after it, so Incrs do not overlap each other: the
// chain's latency is paid in full on every call.
func BenchmarkIncrFloor(b *testing.B) {
	key := counterKeys[0]
	var cells [64]atomic.Uint64
	// chain[i] holds the index of the next link; the last link names a cell.
	var chain [64]uint64
	for i := range chain {
		chain[i] = uint64(i*7+3) & 63
	}
	b.Run("atomic-add", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startThreadCPU()
		for b.Loop() {
			cells[0].Add(1)
		}
		cpu.report(b)
	})
	b.Run("hash+atomic-add", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startThreadCPU()
		for b.Loop() {
			cells[hashKey(key)&63].Add(1)
		}
		cpu.report(b)
	})
	b.Run("hash+5-loads+atomic-add", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startThreadCPU()
		for b.Loop() {
			i := hashKey(key) & 63
			for range 5 {
				i = chain[i]
			}
			cells[i].Add(1)
		}
		cpu.report(b)
	})
}

// BenchmarkGetFloor takes the 16 K-key Get (BenchmarkGet/shm/uncontended)
// apart: the same keys in the same order, doing only the memory accesses of
// a lock-free Get, one more kind at each step, and Get itself beside them.
// The steps are the key's hash and shard; then the walk to its index
// bucket; then that and one load of the entry (its seq), or of the arena
// block (the key's first word) at the bucket's offset; then both; then the
// value's first and last words too. What a step adds over the one before is
// what that access costs when the core overlaps it as well as it can with
// the others, and the Get row minus the last step is the work that does not
// overlap with the misses. No writer runs, so nothing is validated.
func BenchmarkGetFloor(b *testing.B) {
	d := mustNew(b, 64<<20)
	fill(dictKV{d})
	// bucket walks key's probe run to the first bucket with its tag (in
	// this fill, its own bucket but for a 1/128 chance per key).
	bucket := func(key []byte) (*shard, uint64) {
		s, hash := d.shardFor(key)
		mask := s.index.mask.Load()
		first := unsafe.Pointer(s.index.first.Load())
		for i := uint32(hash) & mask; ; i = (i + 1) & mask {
			if bk := (*word)(unsafe.Add(first, uintptr(i)*8)).Load(); bk == 0 || bk&bucketTagMask == bucketTag(hash) {
				return s, bk
			}
		}
	}
	entrySeq := func(s *shard, bk uint64) uint64 { return s.entryAt(bucketRef(bk)).seq.Load() }
	blockWord := func(s *shard, bk uint64, at int) uint64 {
		return *(*uint64)(unsafe.Add(s.arenaRef().first, int(bucketOff(bk))+at))
	}
	steps := []struct {
		name string
		op   func(key []byte) uint64
	}{
		{"hash", func(key []byte) uint64 { _, h := d.shardFor(key); return h }},
		{"bucket", func(key []byte) uint64 { _, bk := bucket(key); return bk }},
		{"bucket+entry", func(key []byte) uint64 { s, bk := bucket(key); return entrySeq(s, bk) }},
		{"bucket+block", func(key []byte) uint64 { s, bk := bucket(key); return blockWord(s, bk, blockHeader) }},
		{"bucket+entry+block", func(key []byte) uint64 {
			s, bk := bucket(key)
			return entrySeq(s, bk) + blockWord(s, bk, blockHeader)
		}},
		{"bucket+entry+block+value", func(key []byte) uint64 {
			s, bk := bucket(key)
			val := blockHeader + len(key)
			return entrySeq(s, bk) + blockWord(s, bk, blockHeader) + blockWord(s, bk, val) + blockWord(s, bk, val+len(benchValue)-8)
		}},
	}
	var sink uint64
	for _, st := range steps {
		b.Run(st.name, func(b *testing.B) {
			cpu := startThreadCPU()
			for i := 0; b.Loop(); i++ {
				sink += st.op(benchKeyBytes[i&(benchKeys-1)])
			}
			cpu.report(b)
		})
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 128)
		cpu := startThreadCPU()
		for i := 0; b.Loop(); i++ {
			v, _ := d.Get(benchKeyBytes[i&(benchKeys-1)], dst[:0])
			dst = v.Bytes
		}
		cpu.report(b)
	})
	parallelFloorSink.Add(sink)
}
