// Command cgbench runs one shared-dict operation in a loop, for counting
// instructions with callgrind: unlike timings on a shared machine, the
// count is the same whatever else runs, so it compares two versions of the
// request path exactly. The package's test binary is no use for this: its
// setup (every baseline filled, the garbage collector, timers) makes the
// totals differ from run to run by more than an operation costs.
//
// Instructions per operation are the difference between two runs, which
// cancels the setup:
//
//	go build -o /tmp/cgbench ./shm/internal/cgbench
//	for n in 100000 1100000; do
//		GODEBUG=asyncpreemptoff=1 GOGC=off valgrind --tool=callgrind \
//			--callgrind-out-file=/dev/null /tmp/cgbench get $n 2>&1 | grep Collected
//	done
//	# (second - first) / 1000000
//
// asyncpreemptoff keeps the runtime's preemption signals away from
// callgrind, which aborts on them. Operations: get, get16k, incr, incr16k
// (one key, or cycling over 16 K keys, as BenchmarkGet and BenchmarkIncr's
// one-key and uncontended shapes), setevict (BenchmarkSetEvict: the write
// path with eviction and compaction), and mapget, mapincr (the RWMutex map
// baseline of bench_test.go on one key).
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sluice-gw/sluice/shm"
)

// sink keeps the loops' results alive.
var sink int64

//go:noinline
func loopGet(d *shm.Dict, key []byte, n int) {
	buf := make([]byte, 0, 128)
	for range n {
		v, _ := d.Get(key, buf[:0])
		buf = v.Bytes
	}
	sink += int64(len(buf))
}

//go:noinline
func loopGetKeys(d *shm.Dict, keys [][]byte, n int) {
	buf := make([]byte, 0, 128)
	for i := range n {
		v, _ := d.Get(keys[i&(len(keys)-1)], buf[:0])
		buf = v.Bytes
	}
	sink += int64(len(buf))
}

//go:noinline
func loopIncr(d *shm.Dict, key []byte, n int) {
	for range n {
		x, _ := d.Incr(key, 1, 0, 0)
		sink += x
	}
}

//go:noinline
func loopIncrKeys(d *shm.Dict, keys [][]byte, n int) {
	for i := range n {
		x, _ := d.Incr(keys[i&(len(keys)-1)], 1, 0, 0)
		sink += x
	}
}

// loopSetEvict is BenchmarkSetEvict: Set of keys cycling over 16 K into a
// dict too small for them, so every Set evicts and compactions run.
//
//go:noinline
func loopSetEvict(keys [][]byte, val []byte, n int) {
	d, err := shm.New(1 << 20)
	if err != nil {
		panic(err)
	}
	for i := range n {
		_ = d.Set(keys[i&(len(keys)-1)], shm.BytesValue(val), 0)
	}
	sink += int64(d.Len())
}

// rwMap is bench_test.go's rwMapKV: one RWMutex over a map.
type rwMap struct {
	mu sync.RWMutex
	m  map[string]*rwEntry
}

type rwEntry struct {
	n   atomic.Int64
	val []byte
}

//go:noinline
func loopMapGet(k *rwMap, key []byte, n int) {
	buf := make([]byte, 0, 128)
	for range n {
		k.mu.RLock()
		e, ok := k.m[string(key)]
		dst := buf[:0]
		if ok {
			dst = append(dst, e.val...)
		}
		k.mu.RUnlock()
		buf = dst
	}
	sink += int64(len(buf))
}

//go:noinline
func loopMapIncr(k *rwMap, key []byte, n int) {
	for range n {
		k.mu.RLock()
		e := k.m[string(key)]
		k.mu.RUnlock()
		sink += e.n.Add(1)
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: cgbench get|get16k|incr|incr16k|setevict|mapget|mapincr N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	d, err := shm.New(64 << 20)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The keys, value and fill of bench_test.go.
	val := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	keys := make([][]byte, 1<<14)
	counters := make([][]byte, len(keys))
	rw := &rwMap{m: make(map[string]*rwEntry)}
	for i := range keys {
		keys[i] = []byte("limit:consumer:" + strconv.Itoa(i) + ":route:42")
		counters[i] = append(append([]byte(nil), keys[i]...), ":n"...)
		_ = d.Set(keys[i], shm.BytesValue(val), 0)
		_, _ = d.Incr(counters[i], 1, 0, 0)
		rw.m[string(keys[i])] = &rwEntry{val: append([]byte(nil), val...)}
		rw.m[string(counters[i])] = &rwEntry{}
	}
	switch os.Args[1] {
	case "get":
		loopGet(d, keys[0], n)
	case "get16k":
		loopGetKeys(d, keys, n)
	case "incr":
		loopIncr(d, counters[0], n)
	case "incr16k":
		loopIncrKeys(d, counters, n)
	case "setevict":
		loopSetEvict(keys, val, n)
	case "mapget":
		loopMapGet(rw, keys[0], n)
	case "mapincr":
		loopMapIncr(rw, counters[0], n)
	default:
		fmt.Fprintln(os.Stderr, "unknown operation", os.Args[1])
		os.Exit(2)
	}
}
