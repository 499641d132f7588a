package shm

import (
	"math/rand/v2"
	"testing"
)

// TestIndexCollisions drives the index alone with hashes drawn from a tiny
// set, so equal hashes, equal probe starts and wrap-around runs are the
// common case, and checks after every step that each present slot is still
// reachable from its home and that removed slots are gone.
func TestIndexCollisions(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		hashes := []uint64{0, 1, 15, 16, 31, 1 << 40, 1<<40 | 15, 0xffff_ffff, 7, 7 | 1<<50}
		var x index
		x.init()
		present := map[uint32]uint64{} // slot -> hash
		for step := range 3000 {
			slot := uint32(rng.IntN(60) + 1)
			if h, ok := present[slot]; ok {
				x.remove(slot, h)
				delete(present, slot)
			} else {
				h := hashes[rng.IntN(len(hashes))]
				x.insert(slot, h)
				present[slot] = h
			}
			if x.n != len(present) {
				t.Fatalf("seed %d step %d: n %d, want %d", seed, step, x.n, len(present))
			}
			for s, h := range present {
				if !indexHas(&x, s, h) {
					t.Fatalf("seed %d step %d: slot %d (hash %x) unreachable", seed, step, s, h)
				}
			}
			occupied := 0
			table := x.table()
			for i := range table.buckets {
				b := table.buckets[i].Load()
				if b == 0 {
					continue
				}
				occupied++
				if h, ok := present[bucketSlot(b)]; !ok || bucketOf(bucketSlot(b), h) != b {
					t.Fatalf("seed %d step %d: bucket %x holds no present slot", seed, step, b)
				}
			}
			if occupied != len(present) {
				t.Fatalf("seed %d step %d: %d buckets occupied, %d present", seed, step, occupied, len(present))
			}
		}
	}
}

// indexHas probes like shard.find, stopping at the first empty bucket.
func indexHas(x *index, slot uint32, hash uint64) bool {
	t := x.table()
	want := bucketOf(slot, hash)
	for i := bucketHome(want, t.mask); t.buckets[i].Load() != 0; i = (i + 1) & t.mask {
		if t.buckets[i].Load() == want {
			return true
		}
	}
	return false
}

// TestSlotRefRoundTrip checks the index's slot encoding at every segment's
// first and last slot: refSlot undoes slotRef, entryAt finds the entry that
// entry does, and only slot 0 encodes as 0 (an empty bucket).
func TestSlotRefRoundTrip(t *testing.T) {
	d := mustNew(t, 64<<20, WithShards(1))
	s := &d.shards[0]
	for k := range entrySegments {
		first := uint32(1<<firstSegmentLog<<k - 1<<firstSegmentLog)
		for _, slot := range []uint32{first, first + 1<<firstSegmentLog<<k - 1} {
			ref := slotRef(slot)
			if got := refSlot(ref); got != slot {
				t.Fatalf("slot %d: ref %#x decodes to %d", slot, ref, got)
			}
			if ref == 0 && slot != 0 {
				t.Fatalf("slot %d encodes as 0, an empty bucket", slot)
			}
			if k >= 4 {
				continue // segments are allocated as slots are needed
			}
			if s.segs[k].Load() == nil {
				s.addSegment(k)
			}
			if s.entryAt(ref) != s.entry(slot) {
				t.Fatalf("slot %d: entryAt and entry disagree", slot)
			}
		}
	}
}
