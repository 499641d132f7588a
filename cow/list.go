// Package cow has the list that versions of a configuration share: a
// version that changes a few entries of 10,000 copies the chunks holding
// them, not the whole list.
//
// A gateway of 10,000 routes that takes twenty Admin API changes a second
// keeps several such lists per version: the configuration's routes and
// their revisions (package config), the compiled routes by slot and by
// position (package engine). Copied whole, they were 80 KB each for every
// change, most of the garbage a change left, and the collector's cycles
// that garbage paid for ran beside the event loops.
//
// A List is a value that is never changed once made: it is safe for
// concurrent reads and is copied freely (its header is two words and a
// count). An Editor makes the next version; it is for one goroutine.
package cow

import "iter"

// List is a read-only sequence of entries. The zero List is empty.
//
// Lists of equal entries have equal chunks, however they were made (every
// chunk is full but the last), so that reflect.DeepEqual compares two
// configurations by their values.
type List[T any] struct {
	chunks [][]T // chunkLen entries each, the last one fewer
	n      int
}

const (
	chunkShift = 8
	chunkLen   = 1 << chunkShift // 2 KB of pointers: a copy is a few cache lines' worth of work
	chunkMask  = chunkLen - 1
)

// From returns a List of the entries of s, which it copies.
func From[T any](s []T) List[T] {
	e := Make[T](len(s))
	for i, v := range s {
		e.l.chunks[i>>chunkShift][i&chunkMask] = v
	}
	return e.List()
}

// Len is the number of entries.
func (l List[T]) Len() int { return l.n }

// At is entry i, which must be below Len.
func (l List[T]) At(i int) T { return l.chunks[i>>chunkShift][i&chunkMask] }

// All yields every entry with its index, in order.
func (l List[T]) All() iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		for c, chunk := range l.chunks {
			for j, v := range chunk {
				if !yield(c<<chunkShift+j, v) {
					return
				}
			}
		}
	}
}

// Slice returns the entries in a new slice, nil when there are none.
func (l List[T]) Slice() []T {
	if l.n == 0 {
		return nil
	}
	s := make([]T, 0, l.n)
	for _, chunk := range l.chunks {
		s = append(s, chunk...)
	}
	return s
}

// Same reports whether a and b are the same version: made by the same
// Editor, or copies of one List. Equal entries in lists made apart are
// not the same version.
func Same[T any](a, b List[T]) bool {
	return a.n == b.n && (len(a.chunks) == 0 || &a.chunks[0] == &b.chunks[0])
}

// Changed yields the positions below the shorter list's length whose
// entries differ between a and b, skipping the chunks the two versions
// share without looking at their entries: comparing two versions an edit
// of one route apart reads one chunk, not 10,000 entries.
func Changed[T comparable](a, b List[T]) iter.Seq[int] {
	return func(yield func(int) bool) {
		n := min(a.n, b.n)
		for c := 0; c<<chunkShift < n; c++ {
			ca, cb := a.chunks[c], b.chunks[c]
			if len(ca) > 0 && len(cb) > 0 && &ca[0] == &cb[0] {
				continue // one array: no version writes where another reads
			}
			for j := 0; j < len(ca) && j < len(cb); j++ {
				if ca[j] != cb[j] && !yield(c<<chunkShift+j) {
					return
				}
			}
		}
	}
}
