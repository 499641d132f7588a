package admin

import (
	"slices"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/stats"
)

// appendVectors appends the engine's product vectors (requests by route
// and code, by upstream and code, by consumer and code), from the snapshot
// appendEngine took; only the series that counted something (a family
// without any is left out whole). They are the families whose size
// follows the config: 10,000 routes × 5 codes is 50,000 series.
//
// It lists the indexes that counted before writing any, to grow dst and
// the prefixes once for all of them: the first scrape after traffic finds
// tens of thousands of series at once, and grown sample by sample (by
// append's 1.25× past a few hundred KB) the two buffers cost that scrape
// about ten times their size in copies and garbage, 30 MB and most of its
// 200 ms for 50,000 series.
//
// It marks (c.marks) the start of every span of segmentIndexes indexes
// that has a series, keyed by the vector and the span: a segment's text
// changes only when one of its series counts, or a new one does.
func (c *Collector) appendVectors(dst []byte) []byte {
	descs := c.srv.Metrics().Descs()
	for i := range descs {
		d := &descs[i]
		if d.Kind != stats.KindCounterVec {
			continue
		}
		labels, product := c.srv.VecLabels(stats.VecID(d.ID))
		if !product {
			continue
		}
		vec := c.snap.Vec(stats.VecID(d.ID))
		sp := c.prefixesOf(stats.VecID(d.ID), len(vec))
		c.counted = c.counted[:0]
		unwritten := 0
		for idx, v := range vec {
			if v != 0 {
				c.counted = append(c.counted, int32(idx))
				if sp.ends[idx] == 0 {
					unwritten++
				}
			}
		}
		if len(c.counted) == 0 {
			continue
		}
		sp.buf = slices.Grow(sp.buf, unwritten*(len(d.Name)+prefixBytes))
		dst = slices.Grow(dst, len(c.counted)*(len(d.Name)+prefixBytes+valueBytes))
		part := int(c.counted[0]) / segmentIndexes
		c.marks = append(c.marks, textMark{key: vecPartKey(d.ID, part), off: len(dst)})
		dst = appendHeader(dst, d.Name, d.Help, "counter")
		for _, at := range c.counted {
			idx := int(at)
			if idx/segmentIndexes != part {
				part = idx / segmentIndexes
				c.marks = append(c.marks, textMark{key: vecPartKey(d.ID, part), off: len(dst)})
			}
			p := sp.get(idx)
			if p == nil {
				c.lv = labels.Values(c.lv[:0], idx)
				start := len(sp.buf)
				sp.buf = appendSeries(sp.buf, d.Name, labels.Names, c.lv, d.Labels)
				p = sp.buf[start:]
				if c.lv[0] != engine.UnknownSeries {
					sp.set(idx, start, len(sp.buf))
				} else {
					sp.buf = sp.buf[:start] // named later: written again next time
				}
			}
			dst = appendUint(append(dst, p...), vec[idx])
		}
	}
	return dst
}

// segmentIndexes is the span of a product vector's indexes that makes one
// segment of the gzipped exposition (segmentedGzip): 4,096 indexes are 157
// routes of 26 code slots, about 48 KB of text when each counted 5 codes.
// Smaller spans recompress less when few series changed and cost more
// bytes (each segment starts a new deflate history and block).
const segmentIndexes = 4096

// vecPartKey names the segment of vector id's indexes
// [part*segmentIndexes, (part+1)*segmentIndexes).
func vecPartKey(id, part int) uint64 { return uint64(id+1)<<32 | uint64(part) }

// tailKey names the segment after the product vectors (the policies'
// families, the parts', the registry's).
const tailKey = 1<<64 - 1

// prefixBytes and valueBytes are what a product vector's sample takes
// beyond the family's name, for reserving room: its labels and braces
// (route="...",code="..." is about 30 bytes for a short route name) and
// its value and newline. A guess, not a bound: append grows past it.
const (
	prefixBytes = 40
	valueBytes  = 8
)

// seriesPrefixes keeps a product vector's samples' "name{labels} " as
// first written, by index. The labels of an index never change (names are
// numbered once for the process's life: engine's series registry), and
// writing 50,000 of them, escapes and all, was a third of a 10,000-route
// scrape; copying them is a memmove each. The cost: the bytes, about 55 per
// series that ever counted something, and 8 per index of the vector.
type seriesPrefixes struct {
	buf  []byte
	ends []uint32 // ends[idx]: the end of idx's prefix in buf; 0: not written
	offs []uint32 // offs[idx]: its start
}

// prefixesOf returns vector id's prefixes, their index room grown to n at
// once (a warm-up grows it before the first scrape: see Server.warm).
func (c *Collector) prefixesOf(id stats.VecID, n int) *seriesPrefixes {
	if c.prefixes == nil {
		c.prefixes = make(map[stats.VecID]*seriesPrefixes)
	}
	sp := c.prefixes[id]
	if sp == nil {
		sp = &seriesPrefixes{}
		c.prefixes[id] = sp
	}
	if len(sp.ends) < n {
		ends, offs := make([]uint32, n), make([]uint32, n)
		copy(ends, sp.ends)
		copy(offs, sp.offs)
		sp.ends, sp.offs = ends, offs
	}
	return sp
}

func (sp *seriesPrefixes) get(idx int) []byte {
	if idx >= len(sp.ends) || sp.ends[idx] == 0 {
		return nil
	}
	return sp.buf[sp.offs[idx]:sp.ends[idx]]
}

func (sp *seriesPrefixes) set(idx, start, end int) {
	sp.offs[idx], sp.ends[idx] = uint32(start), uint32(end)
}

// appendPolicies appends the policies' counter families (engine
// PolicyFamily): route and policy labels, then the family's own.
func (c *Collector) appendPolicies(dst []byte) []byte {
	counts := c.snap.Vec(c.srv.PolicyVec())
	c.fams = engine.AppendPolicyFamilies(c.fams[:0])
	for _, f := range c.fams {
		names := policyLabels[:2]
		if f.Label != "" {
			c.names = append(append(c.names[:0], policyLabels[:2]...), f.Label)
			names = c.names
		}
		header := false
		for _, se := range f.Series {
			for v, value := range f.Values {
				n := uint64(0)
				if i := se.Base + v; i < len(counts) {
					n = counts[i]
				}
				if n == 0 {
					continue
				}
				if !header {
					dst, header = appendHeader(dst, f.Name, f.Help, "counter"), true
				}
				c.lv = append(c.lv[:0], se.Route, se.Policy, value)
				dst = appendUint(appendSeries(dst, f.Name, names, c.lv[:len(names)], nil), n)
			}
		}
	}
	return dst
}

var policyLabels = []string{"route", "policy"}

// appendHeader appends a family's HELP and TYPE lines.
func appendHeader(dst []byte, name, help, typ string) []byte {
	dst = append(dst, "# HELP "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = appendEscaped(dst, help, false)
	dst = append(dst, "\n# TYPE "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = append(dst, typ...)
	return append(dst, '\n')
}

// appendSeries appends a sample's name and labels and the space before its
// value: name{names=values,pairs} (no braces without labels). pairs are
// name, value, name, value...
func appendSeries(dst []byte, name string, names, values, pairs []string) []byte {
	dst = append(dst, name...)
	if len(names) == 0 && len(pairs) == 0 {
		return append(dst, ' ')
	}
	dst = append(dst, '{')
	for j, n := range names {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = appendLabel(dst, n, values[j])
	}
	for j := 0; j+1 < len(pairs); j += 2 {
		if j > 0 || len(names) > 0 {
			dst = append(dst, ',')
		}
		dst = appendLabel(dst, pairs[j], pairs[j+1])
	}
	return append(dst, "} "...)
}

func appendLabel(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = appendEscaped(dst, value, true)
	return append(dst, '"')
}

// appendEscaped escapes as the text format asks: backslash and newline
// in HELP, and the double quote too in label values.
func appendEscaped(dst []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			dst = append(dst, `\\`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '"' && quote:
			dst = append(dst, `\"`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
