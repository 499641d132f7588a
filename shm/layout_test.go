package shm

import (
	"testing"
	"unsafe"
)

// TestEntriesAreCacheLines pins the layout a lookup relies on: an entry is
// 64 bytes and the entry table, at every size it grows through, starts on
// a 64-byte boundary, so reading an entry touches one cache line, whatever
// the shard's size (the table is cut short in small shards).
func TestEntriesAreCacheLines(t *testing.T) {
	if size := unsafe.Sizeof(entry{}); size != 64 {
		t.Fatalf("entry is %d bytes, want 64", size)
	}
	for _, capacity := range []int64{1500, 2600, 20000, 1 << 20, 64 << 20} {
		d := mustNew(t, capacity, WithShards(1))
		s := &d.shards[0]
		s.mu.Lock()
		for {
			p := uintptr(unsafe.Pointer(s.entries.Load()))
			if p%64 != 0 {
				t.Fatalf("capacity %d: entry table (%d entries) at %#x, not 64-byte aligned", capacity, s.entryCap, p)
			}
			if s.entryCap == s.maxSlots {
				break
			}
			s.growEntries()
		}
		s.mu.Unlock()
	}
}

// TestShardHotFieldsShareALine pins the shard layout lock-free operations
// rely on: the fields every Get and Incr loads (the entry table, the arena,
// the cells and the index's table, mask and seq) come first, in 56 bytes,
// and a shard is a multiple of 64 bytes, so in a shard array that starts on
// a 64-byte boundary or 8 bytes past one (the Go heap's allocation header)
// those fields are one cache line in every shard.
func TestShardHotFieldsShareALine(t *testing.T) {
	var s shard
	if size := unsafe.Sizeof(s); size%64 != 0 {
		t.Fatalf("shard is %d bytes, not a multiple of 64", size)
	}
	hotEnd := unsafe.Offsetof(s.index) + unsafe.Offsetof(s.index.seq) + unsafe.Sizeof(s.index.seq)
	for name, end := range map[string]uintptr{
		"entries":    unsafe.Offsetof(s.entries) + unsafe.Sizeof(s.entries),
		"arenaFirst": unsafe.Offsetof(s.arenaFirst) + unsafe.Sizeof(s.arenaFirst),
		"arenaWords": unsafe.Offsetof(s.arenaWords) + unsafe.Sizeof(s.arenaWords),
		"cells":      unsafe.Offsetof(s.cells) + unsafe.Sizeof(s.cells),
		"index.seq":  hotEnd,
	} {
		if end > 56 {
			t.Errorf("shard.%s ends at byte %d, past the first 56", name, end)
		}
	}
	for _, n := range []int{1, 2, 4, 8, 64, 1024} {
		d := mustNew(t, int64(n)<<16, WithShards(n))
		for i := range d.shards {
			p := uintptr(unsafe.Pointer(&d.shards[i]))
			if p/64 != (p+hotEnd-1)/64 {
				t.Fatalf("%d shards: shard %d at %#x, its hot fields cross a cache line", n, i, p)
			}
		}
	}
}
