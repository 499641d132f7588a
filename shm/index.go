package shm

// index maps key hashes to entry slots: an open-addressing table with linear
// probing and backward-shift deletion (no tombstones), at most half full.
// Each bucket is one uint64, slot<<32 | low 32 bits of the hash, and 0 when
// empty (slot 0 is the LRU sentinel, never an entry). The low hash bits are
// both the probe start (hash & mask) and a tag that skips most non-matching
// buckets without touching their entries; the shard picks keys by the top
// hash bits, so these low bits are still well spread inside a shard.
//
// It replaces a map[uint64]uint32 because a lookup here is one cache line
// and a few instructions, and because keys with equal hashes need no chain:
// they take separate buckets. Like the map, it holds no Go pointers.
type index struct {
	buckets []uint64
	mask    uint32
	n       int
}

const minIndexBuckets = 16

func (x *index) init() {
	x.buckets = make([]uint64, minIndexBuckets)
	x.mask = minIndexBuckets - 1
	x.n = 0
}

func bucketOf(slot uint32, hash uint64) uint64 { return uint64(slot)<<32 | uint64(uint32(hash)) }

func bucketSlot(b uint64) uint32 { return uint32(b >> 32) }

func bucketHome(b uint64, mask uint32) uint32 { return uint32(b) & mask }

// insert adds slot under hash. The caller guarantees slot is not present.
func (x *index) insert(slot uint32, hash uint64) {
	if 2*(x.n+1) > len(x.buckets) {
		x.grow()
	}
	x.place(bucketOf(slot, hash))
	x.n++
}

func (x *index) place(b uint64) {
	for i := bucketHome(b, x.mask); ; i = (i + 1) & x.mask {
		if x.buckets[i] == 0 {
			x.buckets[i] = b
			return
		}
	}
}

func (x *index) grow() {
	old := x.buckets
	x.buckets = make([]uint64, 2*len(old))
	x.mask = uint32(len(x.buckets) - 1)
	for _, b := range old {
		if b != 0 {
			x.place(b)
		}
	}
}

// remove deletes slot, stored under hash, and shifts later buckets of the
// probe run back so lookups never stop early at the hole.
func (x *index) remove(slot uint32, hash uint64) {
	want := bucketOf(slot, hash)
	i := bucketHome(want, x.mask)
	for x.buckets[i] != want {
		if x.buckets[i] == 0 {
			return // not present; callers never do this
		}
		i = (i + 1) & x.mask
	}
	for j := i; ; {
		j = (j + 1) & x.mask
		b := x.buckets[j]
		if b == 0 {
			break
		}
		// b may move into the hole at i unless its home lies cyclically in (i, j].
		home := bucketHome(b, x.mask)
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			x.buckets[i] = b
			i = j
		}
	}
	x.buckets[i] = 0
	x.n--
}
