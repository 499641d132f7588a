//go:build !race

package policies

import "testing"

// The freshness inputs are read when a response is stored; reading them
// allocates nothing.
func TestHTTPDateAllocatesNothing(t *testing.T) {
	now := int64(1780000000)
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "0"} {
		b := []byte(s)
		if n := testing.AllocsPerRun(1000, func() { _, _ = parseHTTPDate(b, now) }); n != 0 {
			t.Errorf("parseHTTPDate(%q): %v allocations", s, n)
		}
	}
}
