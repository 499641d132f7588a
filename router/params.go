package router

// Param is one path parameter of a match: its name in the pattern and its
// value as an offset and a length into the path given to Lookup.
type Param struct {
	Name string
	Val  [2]uint32 // offset, length
}

// Params holds the path parameters of one Lookup without allocating: a
// fixed array the caller owns, typically one per request context, reused
// for every request (Lookup resets it).
//
// Params records offsets, not bytes: its values are views into the path
// given to Lookup and are only as valid as that path. A Params is not safe
// for concurrent use.
type Params struct {
	n    int
	list [MaxParams]Param
}

// Reset forgets the parameters.
func (p *Params) Reset() { p.n = 0 }

// Len returns the number of parameters.
func (p *Params) Len() int { return p.n }

// At returns the i-th parameter in pattern order; it panics unless
// 0 <= i < Len().
func (p *Params) At(i int) Param {
	if i >= p.n {
		panic("router: Params.At index out of range")
	}
	return p.list[i]
}

// Get returns the value of the parameter name, a sub-slice of path, which
// must be the path given to the Lookup that filled p. The value aliases
// path: copy it to keep it past path's lifetime.
func (p *Params) Get(name string, path []byte) ([]byte, bool) {
	for i := 0; i < p.n; i++ {
		if p.list[i].Name == name {
			return p.Value(i, path), true
		}
	}
	return nil, false
}

// Value returns the value of the i-th parameter as a sub-slice of path (see
// Get); nil if path is shorter than the path the parameter came from.
func (p *Params) Value(i int, path []byte) []byte {
	v := p.At(i).Val
	off, end := uint64(v[0]), uint64(v[0])+uint64(v[1])
	if end > uint64(len(path)) {
		return nil
	}
	return path[off:end:end]
}
