package lb

import "github.com/cespare/xxhash/v2"

// buildMaglev fills a Maglev lookup table (Eisenbud et al., NSDI 2016) of
// the given prime size. Every target walks its own permutation of the slots,
// (offset + j·skip) mod size, taking the next free slot on each of its
// turns; a target takes a turn in a round in proportion to its weight, so
// its share of slots follows its weight (the weighted variant Envoy uses).
// Offsets and skips hash the address, so a target keeps its preferred slots
// across snapshots and a change of membership moves few keys.
func buildMaglev(targets []*Target, weights []int32, size int) []uint32 {
	const empty = ^uint32(0)
	m := uint64(size)
	n := len(targets)
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	credit := make([]int64, n)
	var maxW int64
	for i, t := range targets {
		offset[i] = xxhash.Sum64String(t.Addr) % m
		skip[i] = xxhash.Sum64String(t.Addr+"\x00maglev-skip")%(m-1) + 1
		if w := int64(weights[i]); w > maxW {
			maxW = w
		}
	}
	table := make([]uint32, size)
	for i := range table {
		table[i] = empty
	}
	for filled := 0; ; {
		for i := 0; i < n; i++ {
			credit[i] += int64(weights[i])
			if credit[i] < maxW {
				continue
			}
			credit[i] -= maxW
			slot := (offset[i] + next[i]*skip[i]) % m
			for table[slot] != empty {
				next[i]++
				slot = (offset[i] + next[i]*skip[i]) % m
			}
			table[slot] = uint32(i)
			next[i]++
			if filled++; filled == size {
				return table
			}
		}
	}
}

// defaultTableSize is the smallest prime at least max(65537, 100·n): the
// Maglev paper keeps the table over 100 times the number of backends so
// that shares stay within about 1% of their weights.
func defaultTableSize(n int) int {
	size := uint64(65537)
	if want := uint64(n) * 100; want > size {
		size = want
	}
	for !isPrime(size) {
		size++
	}
	return int(size)
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint64(3); d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
