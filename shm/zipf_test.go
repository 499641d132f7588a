package shm

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// Eviction quality: CLOCK (reads set a bit, the eviction hand gives a second
// chance) against exact LRU, as a cache on a Zipf-distributed key stream:
// every request is a Get, and a miss Sets the key. The dict is compared
// with an exact LRU cache holding as many entries as the dict can, so the
// figure includes everything the dict does differently (per-shard eviction,
// the capacity/16 it frees before compacting), not just the bit.

// zipfCase is one workload: keys drawn from a Zipf distribution with
// exponent s over universe keys, a cache that holds cacheEntries of them.
type zipfCase struct {
	s            float64
	universe     int
	cacheEntries int
	shards       int
}

// zipfKey is key number i, all keys the same length so every entry costs
// the same.
func zipfKey(buf []byte, i uint64) []byte {
	buf = append(buf[:0], "zipf:"...)
	for n := i + 1e6; n < 1e7; n *= 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendUint(buf, i+1e6, 10)
}

// hitRatios runs requests through the dict and through an exact LRU of the
// same entry capacity and returns both hit ratios.
func (c zipfCase) hitRatios(tb testing.TB, requests int, seed uint64) (dictHits, lruHits float64) {
	value := StringValue("0123456789abcdef0123456789abcdef")
	keyLen := len(zipfKey(nil, 0))
	d := mustNew(tb, int64(c.cacheEntries)*accountedSize(keyLen, len(value.Bytes)), WithShards(c.shards))
	lru := newExactLRU(c.cacheEntries)
	rng := rand.New(rand.NewPCG(seed, 0x21bf))
	zipf := rand.NewZipf(rng, c.s, 1, uint64(c.universe-1))
	key := make([]byte, 0, 32)
	buf := make([]byte, 0, 64)
	var dHits, lHits int
	for range requests {
		k := zipf.Uint64()
		key = zipfKey(key, k)
		v, ok := d.Get(key, buf[:0])
		buf = v.Bytes[:0]
		if ok {
			dHits++
		} else if err := d.Set(key, value, 0); err != nil {
			tb.Fatal(err)
		}
		if lru.get(k) {
			lHits++
		}
	}
	return float64(dHits) / float64(requests), float64(lHits) / float64(requests)
}

// exactLRU is the reference: a map and a list, most recently used first.
type exactLRU struct {
	capacity int
	order    *list.List
	elems    map[uint64]*list.Element
}

func newExactLRU(capacity int) *exactLRU {
	return &exactLRU{capacity: capacity, order: list.New(), elems: make(map[uint64]*list.Element)}
}

// get reports a hit and marks k used, or inserts k (evicting the least
// recently used) on a miss.
func (l *exactLRU) get(k uint64) bool {
	if e, ok := l.elems[k]; ok {
		l.order.MoveToFront(e)
		return true
	}
	if l.order.Len() == l.capacity {
		oldest := l.order.Back()
		delete(l.elems, oldest.Value.(uint64))
		l.order.Remove(oldest)
	}
	l.elems[k] = l.order.PushFront(k)
	return false
}

var zipfCases = []zipfCase{
	{s: 1.01, universe: 100_000, cacheEntries: 2_000, shards: 1},
	{s: 1.01, universe: 100_000, cacheEntries: 10_000, shards: 1},
	{s: 1.2, universe: 100_000, cacheEntries: 1_000, shards: 1},
	{s: 1.2, universe: 100_000, cacheEntries: 5_000, shards: 4},
	{s: 1.5, universe: 10_000, cacheEntries: 500, shards: 1},
}

// TestEvictionQualityZipf pins the bar: the dict's hit ratio is
// within 2 percentage points of exact LRU's on every workload. The streams
// are seeded, so the figures are the same on every run.
func TestEvictionQualityZipf(t *testing.T) {
	requests := 400_000
	if testing.Short() {
		requests = 100_000
	}
	for _, c := range zipfCases {
		t.Run(fmt.Sprintf("s=%g/keys=%d/cache=%d/shards=%d", c.s, c.universe, c.cacheEntries, c.shards), func(t *testing.T) {
			dict, lru := c.hitRatios(t, requests, 1)
			t.Logf("hit ratio: dict (CLOCK) %.2f%%, exact LRU %.2f%%, difference %+.2f points",
				100*dict, 100*lru, 100*(dict-lru))
			if dict < lru-0.02 {
				t.Errorf("dict hit ratio %.2f%% is more than 2 points below exact LRU's %.2f%%", 100*dict, 100*lru)
			}
		})
	}
}
