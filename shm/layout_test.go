package shm

import (
	"testing"
	"unsafe"
)

// TestEntriesAreCacheLines pins the layout a lookup relies on: an entry is
// 64 bytes and every segment of the entry table starts on a 64-byte
// boundary, so reading an entry touches one cache line, whatever the
// shard's size (segments are cut short in small shards).
func TestEntriesAreCacheLines(t *testing.T) {
	if size := unsafe.Sizeof(entry{}); size != 64 {
		t.Fatalf("entry is %d bytes, want 64", size)
	}
	for _, capacity := range []int64{1500, 2600, 20000, 1 << 20, 64 << 20} {
		d := mustNew(t, capacity, WithShards(1))
		s := &d.shards[0]
		for k := range s.segLen {
			if s.segLen[k] == 0 {
				break
			}
			s.mu.Lock()
			if s.segs[k].Load() == nil {
				s.addSegment(k)
			}
			p := uintptr(unsafe.Pointer(s.segs[k].Load()))
			s.mu.Unlock()
			if p%64 != 0 {
				t.Fatalf("capacity %d: segment %d (%d entries) at %#x, not 64-byte aligned", capacity, k, s.segLen[k], p)
			}
		}
	}
}
