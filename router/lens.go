package router

// lenCounts counts the lengths of a set of keys (prefixes, wildcard hosts)
// or patterns (segment counts), so that the bounds Lookup derives from
// them (group.maxPrefix, group.segCounts, Table.maxWild) come out as a
// fresh Build would make them after any sequence of Updates, removals
// included. Few distinct lengths occur, so it is a short slice sorted by
// length; it belongs to the object that holds it, which copies it with
// itself (see clone).
type lenCounts []lenCount

type lenCount struct{ len, count int }

// add adds delta to the count of length n, 1 or -1.
func (c *lenCounts) add(n, delta int) {
	s := *c
	i := 0
	for i < len(s) && s[i].len < n {
		i++
	}
	switch {
	case i == len(s) || s[i].len != n:
		s = append(s, lenCount{})
		copy(s[i+1:], s[i:])
		s[i] = lenCount{len: n, count: delta}
	case s[i].count+delta == 0:
		s = append(s[:i], s[i+1:]...)
	default:
		s[i].count += delta
	}
	*c = s
}

// max returns the longest length counted, 0 if none.
func (c lenCounts) max() int {
	if len(c) == 0 {
		return 0
	}
	return c[len(c)-1].len
}

// segBits returns the union of segBit of every length counted.
func (c lenCounts) segBits() uint64 {
	var bits uint64
	for _, lc := range c {
		bits |= segBit(lc.len)
	}
	return bits
}

func (c lenCounts) clone() lenCounts { return append(lenCounts(nil), c...) }
