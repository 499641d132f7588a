package admin

import (
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/stats"
)

// appendVectors appends the engine's product vectors (requests by route
// and code, by upstream and code, by consumer and code), from the snapshot
// appendEngine took; only the series that counted something (a family
// without any is left out whole). They are the families whose size
// follows the config: 10,000 routes × 5 codes is 50,000 series.
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
		header := false
		for idx, v := range c.snap.Vec(stats.VecID(d.ID)) {
			if v == 0 {
				continue
			}
			if !header {
				dst, header = appendHeader(dst, d.Name, d.Help, "counter"), true
			}
			c.lv = labels.Values(c.lv[:0], idx)
			dst = appendUint(appendSeries(dst, d.Name, labels.Names, c.lv, d.Labels), v)
		}
	}
	return dst
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
