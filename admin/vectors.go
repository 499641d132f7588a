package admin

import (
	"strconv"

	"github.com/sluice-gw/sluice/stats"
)

// AppendVectors appends the engine's product vectors (requests by route
// and code, by upstream and code) in the Prometheus text format, from the
// snapshot the last Collect took; only the series that counted something.
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
		dst = append(dst, "# HELP "...)
		dst = append(dst, d.Name...)
		dst = append(dst, ' ')
		dst = appendEscaped(dst, d.Help, false)
		dst = append(dst, "\n# TYPE "...)
		dst = append(dst, d.Name...)
		dst = append(dst, " counter\n"...)
		var lv []string
		for idx, v := range c.snap.Vec(stats.VecID(d.ID)) {
			if v == 0 {
				continue
			}
			lv = labels.Values(lv[:0], idx)
			dst = append(dst, d.Name...)
			dst = append(dst, '{')
			for j, name := range labels.Names {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, name...)
				dst = append(dst, `="`...)
				dst = appendEscaped(dst, lv[j], true)
				dst = append(dst, '"')
			}
			for j := 0; j+1 < len(d.Labels); j += 2 {
				dst = append(dst, ',')
				dst = append(dst, d.Labels[j]...)
				dst = append(dst, `="`...)
				dst = appendEscaped(dst, d.Labels[j+1], true)
				dst = append(dst, '"')
			}
			dst = append(dst, "} "...)
			dst = strconv.AppendUint(dst, v, 10)
			dst = append(dst, '\n')
		}
	}
	return dst
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
