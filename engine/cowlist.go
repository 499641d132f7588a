package engine

// cowList is a list that versions share: a version that changes a few
// entries copies the chunks holding them, not the whole list. A version's
// routes by slot are one (Snapshot.routes), the compiler's units by
// position another: with 10,000 routes, copying both whole was 160 KB of
// pointers for every Admin API change, a fifth of the garbage a change
// left, and the collector's cycles that garbage paid for ran beside the
// event loops. A cowList is never changed once a version is built; a
// cowEdit makes the next one.
type cowList[T any] struct {
	chunks [][]T // cowChunk entries each, the last one fewer
	n      int
}

const (
	cowShift = 8
	cowChunk = 1 << cowShift // 2 KB of pointers: a copy is a few cache lines' worth of work
	cowMask  = cowChunk - 1
)

// Len is the number of entries.
func (l *cowList[T]) Len() int { return l.n }

// At is entry i, which must be below Len.
func (l *cowList[T]) At(i int) T { return l.chunks[i>>cowShift][i&cowMask] }

// each calls fn with every entry, in order.
func (l *cowList[T]) each(fn func(i int, v T)) {
	for c, chunk := range l.chunks {
		for j, v := range chunk {
			fn(c<<cowShift+j, v)
		}
	}
}

// cowEdit makes a new version of a list: it starts as the old one and
// copies a chunk the first time it changes an entry there.
type cowEdit[T any] struct {
	l     cowList[T]
	owned []bool // by chunk: copied by this edit, so changed in place
}

// editList starts a new version of base.
func editList[T any](base cowList[T]) *cowEdit[T] {
	e := &cowEdit[T]{l: cowList[T]{chunks: append([][]T(nil), base.chunks...), n: base.n}}
	e.owned = make([]bool, len(e.l.chunks))
	return e
}

// newList starts a list of n zero entries, every chunk its own.
func newList[T any](n int) *cowEdit[T] {
	e := &cowEdit[T]{l: cowList[T]{n: n}}
	for left := n; left > 0; left -= cowChunk {
		e.l.chunks = append(e.l.chunks, make([]T, min(left, cowChunk), cowChunk))
		e.owned = append(e.owned, true)
	}
	return e
}

// Len is the number of entries.
func (e *cowEdit[T]) Len() int { return e.l.n }

// At is entry i, as the edit has it.
func (e *cowEdit[T]) At(i int) T { return e.l.At(i) }

// Set makes entry i v; i may be Len, which appends v.
func (e *cowEdit[T]) Set(i int, v T) {
	if i == e.l.n {
		e.append(v)
		return
	}
	c := i >> cowShift
	if !e.owned[c] {
		old := e.l.chunks[c]
		e.l.chunks[c] = append(make([]T, 0, cowChunk), old...)
		e.owned[c] = true
	}
	e.l.chunks[c][i&cowMask] = v
}

func (e *cowEdit[T]) append(v T) {
	c := e.l.n >> cowShift
	if c == len(e.l.chunks) {
		e.l.chunks = append(e.l.chunks, make([]T, 0, cowChunk))
		e.owned = append(e.owned, true)
	} else if !e.owned[c] {
		// Its spare capacity is the older version's: appending there
		// would write into a chunk another version may append to too.
		e.l.chunks[c] = append(make([]T, 0, cowChunk), e.l.chunks[c]...)
		e.owned[c] = true
	}
	e.l.chunks[c] = append(e.l.chunks[c], v)
	e.l.n++
}

// list is the version the edit made; the edit must not be used after.
func (e *cowEdit[T]) list() cowList[T] { return e.l }
