package shm

import "sync/atomic"

// Counter cells: every KindInt value lives in an 8-byte cell of its shard's
// cell slab, so that Incr on an existing counter is one atomic add on the
// cell, without the shard lock.
//
// The difficulty is reuse. A lock-free Incr finds the cell, validates the
// entry, then adds; between the two the key may be deleted and its memory
// given to another key. If that memory were the same cell, the add would
// land on the other key's counter. So a cell belongs to one counter for
// ever:
//
//   - cell ids are never reused: a shard hands them out in increasing order;
//   - a cell whose counter ends (delete, eviction, a Set or IncrFloat that
//     changes the kind) is frozen: it holds cellFrozen, which is not a
//     counter value, so every later add or swap on it sees that it missed
//     and the Incr retries from the lookup;
//   - when the slab is used up, a new one is allocated, the live counters
//     are moved into it (each frozen in the old slab as it moves, under its
//     entry's seqlock), and the new slab is published. The old slab stays
//     frozen, and the garbage collector frees it once no reader holds it.
//
// A cell word is read as an int64 and its top two bits say what it holds:
//
//   - equal (00 or 11, [-2^62, 2^62)): the counter's value;
//   - 01: frozen, the counter has ended (cellFrozen, 3<<61, in the middle);
//   - 10: the value is in entry.num (cellBig, 5<<61, in the middle).
//
// Lock-free Incrs add to a cell with one atomic add, not a compare-and-swap
// (no retry loop however many cores increment one counter), and check
// afterwards what the add landed on: an add that finds a marker did not
// count, and the marker's region absorbs it (a frozen cell's add is taken
// back, a big cell's is wiped when the value moves back in). The regions are
// wide enough for that because an add is only tried on a cell that held a
// "fast" value, in [-2^61, 2^61), just before, with |delta| <= maxAddDelta:
// the adds racing each other and one transition can move a cell by at most
// goroutines * 2^31, which stays far inside 2^61 (2^30 goroutines would need
// terabytes of stacks). Writers under the lock store only fast values,
// cellBig or cellFrozen, and an add can leave a value a little beyond the
// fast range, which the next Incr moves to entry.num under the lock. Values
// outside the fast range keep their value in entry.num, and every Incr on
// them takes the shard lock. Rate-limit counters never get there.
//
// Slab ids are global per shard: slab s holds ids [s.base, s.base+len), so a
// reader holding an old slab and a new id (or the reverse) sees an id out of
// range and retries, and never reads another counter's cell.

const (
	cellFrozen  = uint64(3) << 61   // the cell's counter has ended
	cellBig     = uint64(5) << 61   // the value is in entry.num
	fastMin     = -(int64(1) << 61) // smallest value a writer stores in a cell
	fastMax     = int64(1)<<61 - 1  // largest value a writer stores in a cell
	maxAddDelta = int64(1) << 31    // largest |delta| a lock-free Incr adds
	minCells    = 16                // smallest slab
)

// isFast reports whether n may be stored in a cell.
func isFast(n int64) bool { return n >= fastMin && n <= fastMax }

// cellValue reports whether the cell word w is a counter value (not a
// marker), fast or not.
func cellValue(w uint64) bool { return (w>>62)&1 == w>>63 }

// cellFrozenWord and cellBigWord report which marker region w is in.
func cellFrozenWord(w uint64) bool { return w>>62 == 1 }
func cellBigWord(w uint64) bool    { return w>>62 == 2 }

// cellSlab is one array of cells. Cells not yet handed out hold cellFrozen.
type cellSlab struct {
	base  uint64
	cells []atomic.Uint64
}

// cellAt returns the cell for id, or nil if id is not in this slab.
func (c *cellSlab) cellAt(id uint64) *atomic.Uint64 {
	if c == nil || id-c.base >= uint64(len(c.cells)) {
		return nil
	}
	return &c.cells[id-c.base]
}

func newCellSlab(base uint64, n int) *cellSlab {
	c := &cellSlab{base: base, cells: make([]atomic.Uint64, n)}
	for i := range c.cells {
		c.cells[i].Store(cellFrozen)
	}
	return c
}

// newCell hands out a fresh cell holding n's encoding (n itself when fast,
// cellBig otherwise), moving the live counters to a new slab when the current
// one is used up. The caller holds the shard lock.
func (s *shard) newCell(n int64) uint64 {
	c := s.cells.Load()
	if c == nil || s.nextCell == c.base+uint64(len(c.cells)) {
		c = s.growCells(c)
	}
	id := s.nextCell
	s.nextCell++
	s.liveCells++
	c.cellAt(id).Store(cellWord(n))
	return id
}

func cellWord(n int64) uint64 {
	if isFast(n) {
		return uint64(n)
	}
	return cellBig
}

// freeCell freezes the cell of a counter that ends and returns its last
// word (a value, or a word of the big region): lock-free Incrs that still
// hold the cell find the frozen region from now on.
func (s *shard) freeCell(id uint64) uint64 {
	s.liveCells--
	return s.cells.Load().cellAt(id).Swap(cellFrozen)
}

// growCells allocates a slab with room for twice the live counters, moves
// them into it and publishes it. old may be nil.
func (s *shard) growCells(old *cellSlab) *cellSlab {
	c := newCellSlab(s.nextCell, max(minCells, 2*s.liveCells+minCells))
	if old != nil {
		for slot := s.sentinel().next; slot != 0; slot = s.entry(slot).next {
			e := s.entry(slot)
			if _, kind, _ := unpackLens(e.lens.Load()); kind != KindInt {
				continue
			}
			beginWrite(e)
			id := s.nextCell
			s.nextCell++
			c.cellAt(id).Store(old.cellAt(e.cell.Load()).Swap(cellFrozen))
			e.cell.Store(id)
			endWrite(e)
		}
	}
	s.cells.Store(c)
	return c
}
