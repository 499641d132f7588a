package admin

import (
	"strconv"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/stats"
)

// AppendVectors appends the engine's product vectors (requests by route
// and code, by upstream and code, by consumer and code) and the policies'
// counter families in the Prometheus text format, from the snapshot the
// last Collect took; only the series that counted something (a family
// without any is left out whole).
//
// They are written by hand rather than as client_golang const metrics
// because they are the metrics whose size follows the config: 10,000
// routes × 5 codes is 50,000 series, and building, checking, sorting and
// encoding that many const metrics cost about 150 ms of CPU and 40 MB of
// garbage per scrape (BenchmarkScrape), where appending the lines costs a
// few milliseconds and no allocation once the buffer has grown. Everything
// else still goes through client_golang.
func (c *Collector) AppendVectors(dst []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.descs == nil { // no Collect yet: no snapshot
		return dst
	}
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
		header := false
		for idx, v := range c.snap.Vec(stats.VecID(d.ID)) {
			if v == 0 {
				continue
			}
			if !header {
				dst, header = appendHeader(dst, d.Name, d.Help), true
			}
			c.lv = labels.Values(c.lv[:0], idx)
			dst = appendSample(dst, d.Name, labels.Names, c.lv, d.Labels, v)
		}
	}
	return c.appendPolicies(dst)
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
					dst, header = appendHeader(dst, f.Name, f.Help), true
				}
				c.lv = append(c.lv[:0], se.Route, se.Policy, value)
				dst = appendSample(dst, f.Name, names, c.lv[:len(names)], nil, n)
			}
		}
	}
	return dst
}

var policyLabels = []string{"route", "policy"}

// appendHeader appends a counter family's HELP and TYPE lines.
func appendHeader(dst []byte, name, help string) []byte {
	dst = append(dst, "# HELP "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = appendEscaped(dst, help, false)
	dst = append(dst, "\n# TYPE "...)
	dst = append(dst, name...)
	return append(dst, " counter\n"...)
}

// appendSample appends one sample line: name{names=values,pairs} v.
func appendSample(dst []byte, name string, names, values, pairs []string, v uint64) []byte {
	dst = append(dst, name...)
	dst = append(dst, '{')
	for j, n := range names {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = appendLabel(dst, n, values[j])
	}
	for j := 0; j+1 < len(pairs); j += 2 {
		dst = append(dst, ',')
		dst = appendLabel(dst, pairs[j], pairs[j+1])
	}
	dst = append(dst, "} "...)
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '\n')
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
