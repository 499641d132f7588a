package shm

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// TestIndexCollisions drives the index alone with hashes drawn from a tiny
// set, so equal hashes, equal probe starts and wrap-around runs are the
// common case, and checks after every step that each present slot is still
// reachable from its home with its tag and block offset, and that removed
// slots are gone. Block offsets move (setOff) as compaction moves blocks.
func TestIndexCollisions(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		hashes := []uint64{0, 1, 15, 16, 31, 1 << 40, 1<<40 | 15, 0xffff_ffff, 7, 7 | 1<<50, 7 | 1<<32}
		present := map[uint32]uint64{} // slot -> hash
		offs := map[uint32]uint32{}    // slot -> block offset
		var x index
		x.init(func(ref uint32) uint32 { return uint32(present[refSlot(ref)]) })
		for step := range 3000 {
			slot := uint32(rng.IntN(60) + 1)
			h, ok := present[slot]
			switch {
			case ok && rng.IntN(4) == 0:
				off := uint32(rng.IntN(1<<28)) * 8
				x.table().setOff(slotRef(slot), h, off)
				offs[slot] = off
			case ok:
				x.remove(slot, h)
				delete(present, slot)
			default:
				h = hashes[rng.IntN(len(hashes))]
				off := uint32(rng.IntN(1<<28)) * 8
				present[slot] = h
				x.insert(slot, h, off)
				offs[slot] = off
			}
			if x.n != len(present) {
				t.Fatalf("seed %d step %d: n %d, want %d", seed, step, x.n, len(present))
			}
			for s, h := range present {
				if !indexHas(&x, bucketOf(s, h, offs[s])) {
					t.Fatalf("seed %d step %d: slot %d (hash %x, offset %d) unreachable", seed, step, s, h, offs[s])
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
				s := bucketSlot(b)
				if h, ok := present[s]; !ok || bucketOf(s, h, offs[s]) != b {
					t.Fatalf("seed %d step %d: bucket %x holds no present slot", seed, step, b)
				}
			}
			if occupied != len(present) {
				t.Fatalf("seed %d step %d: %d buckets occupied, %d present", seed, step, occupied, len(present))
			}
		}
	}
}

// indexHas probes like a lookup, from b's home to the first empty bucket.
func indexHas(x *index, b uint64) bool {
	t := x.table()
	for i := x.home(b, t.mask); t.buckets[i].Load() != 0; i = (i + 1) & t.mask {
		if t.buckets[i].Load() == b {
			return true
		}
	}
	return false
}

// TestBucketFieldsRoundTrip checks that a bucket keeps each of its fields
// whole at their extremes: the largest ref and block offset a shard can
// have, and every tag.
func TestBucketFieldsRoundTrip(t *testing.T) {
	lastSlot := uint32(maxShardCapacity/(blockSize(1, 0)+entryOverhead) + 1)
	for _, slot := range []uint32{1, 17, lastSlot - 1, lastSlot} {
		for _, off := range []uint32{0, 8, maxShardCapacity - 8} {
			for tag := range uint64(bucketTagMask + 1) {
				hash := tag<<32 | 0xffff_ffff
				b := bucketOf(slot, hash, off)
				if bucketSlot(b) != slot || bucketOff(b) != off || b&bucketTagMask != bucketTag(hash) {
					t.Fatalf("slot %d off %d tag %d: bucket %#x gives slot %d off %d tag %d",
						slot, off, tag, b, bucketSlot(b), bucketOff(b), b&bucketTagMask)
				}
			}
		}
	}
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

// TestReadsStayLockFreeAfterCompaction pins that compaction keeps every
// bucket's block offset equal to its entry's. A lock-free read retries while
// they differ and then takes the shard lock, so a stale offset would not
// change any result, only leave every read of a moved key on the lock path.
// Here the test holds the lock while it reads keys whose blocks compaction
// moved: each read must finish without it.
func TestReadsStayLockFreeAfterCompaction(t *testing.T) {
	const keys = 200
	d := mustNew(t, 1<<20, WithShards(1))
	s := &d.shards[0]
	key := func(i int) []byte { return []byte("stays-" + strconv.Itoa(i)) }
	value := func(i int) string { return "value of " + strconv.Itoa(i) }
	for i := range keys {
		if err := d.Set(key(i), StringValue(value(i)), 0); err != nil {
			t.Fatal(err)
		}
		if err := d.Set([]byte("hole-"+strconv.Itoa(i)), StringValue("garbage between two kept blocks"), 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range keys {
		d.Delete([]byte("hole-" + strconv.Itoa(i)))
	}
	offset := func(k []byte) uint32 {
		off, _ := unpackLoc(s.entry(s.find(hashKey(k), k)).loc.Load())
		return off
	}
	s.mu.Lock()
	before := offset(key(keys - 1))
	s.compact()
	moved := offset(key(keys-1)) != before
	s.mu.Unlock()
	if !moved {
		t.Fatal("compaction did not move the last key's block; the test needs it to")
	}
	checkInvariants(t, d)

	s.mu.Lock()
	done := make(chan error, 1)
	go func() {
		for i := range keys {
			if v, ok := d.Get(key(i), nil); !ok || string(v.Bytes) != value(i) {
				done <- fmt.Errorf("key %d: read %v, %v", i, v, ok)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		s.mu.Unlock()
		t.Fatal("a Get after the compaction waited for the shard lock")
	}
}
