package cow

// Editor makes a new version of a list: it starts as the old one and
// copies a chunk the first time it changes an entry there. It is for one
// goroutine, and must not be used after List.
type Editor[T any] struct {
	l     List[T]
	owned []bool // by chunk: copied by this edit, so changed in place
}

// Edit starts a new version of base.
func Edit[T any](base List[T]) *Editor[T] {
	e := &Editor[T]{l: List[T]{chunks: append([][]T(nil), base.chunks...), n: base.n}}
	e.owned = make([]bool, len(e.l.chunks))
	return e
}

// Make starts a list of n zero entries, every chunk its own.
func Make[T any](n int) *Editor[T] {
	e := &Editor[T]{l: List[T]{n: n}}
	for left := n; left > 0; left -= chunkLen {
		e.l.chunks = append(e.l.chunks, make([]T, min(left, chunkLen), chunkLen))
		e.owned = append(e.owned, true)
	}
	return e
}

// Len is the number of entries.
func (e *Editor[T]) Len() int { return e.l.n }

// At is entry i, as the edit has it.
func (e *Editor[T]) At(i int) T { return e.l.At(i) }

// Set makes entry i v; i may be Len, which appends v.
func (e *Editor[T]) Set(i int, v T) {
	if i == e.l.n {
		e.append(v)
		return
	}
	e.own(i >> chunkShift)[i&chunkMask] = v
}

// Delete removes entry i, moving the entries after it down by one: the
// chunks from i's to the last are copied.
func (e *Editor[T]) Delete(i int) {
	for j := i; j < e.l.n-1; j++ {
		e.Set(j, e.At(j+1))
	}
	last := (e.l.n - 1) >> chunkShift
	chunk := e.own(last)
	var zero T
	chunk[len(chunk)-1] = zero // the list no longer holds it
	e.l.chunks[last] = chunk[:len(chunk)-1]
	e.l.n--
	if len(e.l.chunks[last]) == 0 {
		e.l.chunks, e.owned = e.l.chunks[:last], e.owned[:last]
		if last == 0 {
			e.l.chunks = nil // as From makes an empty list: DeepEqual holds
		}
	}
}

// own returns chunk c, copied first when another version shares it.
func (e *Editor[T]) own(c int) []T {
	if !e.owned[c] {
		// Its spare capacity is the older version's too: appending there
		// would write into a chunk another version may append to.
		e.l.chunks[c] = append(make([]T, 0, chunkLen), e.l.chunks[c]...)
		e.owned[c] = true
	}
	return e.l.chunks[c]
}

func (e *Editor[T]) append(v T) {
	c := e.l.n >> chunkShift
	if c == len(e.l.chunks) {
		e.l.chunks = append(e.l.chunks, make([]T, 0, chunkLen))
		e.owned = append(e.owned, true)
	}
	e.l.chunks[c] = append(e.own(c), v)
	e.l.n++
}

// List is the version the edit made.
func (e *Editor[T]) List() List[T] { return e.l }
