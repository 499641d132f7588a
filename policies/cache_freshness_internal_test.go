package policies

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC).Unix()
	for _, tc := range []struct {
		in string
		at int64 // 0: refused
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", want},
		{"Sunday, 06-Nov-94 08:49:37 GMT", want},
		{"Sun Nov  6 08:49:37 1994", want},
		{"Sun Nov 06 08:49:37 1994", want},
		{"Friday, 06-Nov-76 08:49:37 GMT", time.Date(2076, 11, 6, 8, 49, 37, 0, time.UTC).Unix()}, // 50 years ahead: this century
		{"Sunday, 06-Nov-77 08:49:37 GMT", time.Date(1977, 11, 6, 8, 49, 37, 0, time.UTC).Unix()}, // 51: the one before
		{"Thu, 29 Feb 2024 00:00:00 GMT", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC).Unix()},
		{"Wed, 31 Dec 2025 23:59:60 GMT", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()}, // a leap second
		{"Fri, 31 Dec 9999 23:59:59 GMT", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()},
		{"0", 0},
		{"-1", 0},
		{"", 0},
		{"Sun, 06 Nov 1994 08:49:37 UTC", 0},
		{"Sun, 06 Nov 1994 08:49:37 PST", 0},
		{"sun, 06 nov 1994 08:49:37 gmt", 0},
		{"Sun, 6 Nov 1994 08:49:37 GMT", 0},
		{"Sun,  06 Nov 1994 08:49:37 GMT", 0},
		{"Sun, 06 Nov 1994 08:49:37.5 GMT", 0},
		{"Sun, 06 Nov 1994 8:49:37 GMT ", 0},
		{"Sun, 06 Nov 94 08:49:37 GMT", 0},
		{"Sun, 31 Nov 1994 08:49:37 GMT", 0},
		{"Thu, 29 Feb 2100 00:00:00 GMT", 0},
		{"Mon, 06 Nov 1994 08:49:37 GMT", 0},     // a Sunday
		{"Wednesday, 01-Jan-75 00:00:00 GMT", 0}, // 1975's weekday, but 75 is 2075, a Tuesday
		{"Sun, 06 Nov 1994 24:00:00 GMT", 0},
		{"Sun, 06 Nov 1994 08:60:00 GMT", 0},
		{"Sun, 06 Nov 1994 08:49:61 GMT", 0},
		{"Sun, 00 Nov 1994 08:49:37 GMT", 0},
		{"Sun, 06 Nov 1994 08-49-37 GMT", 0},
		{"Sun, 06 Nov +994 08:49:37 GMT", 0},
		{"Sunday, 06-Nov-1994 08:49:37 GMT", 0},
		{"Sun, 06-Nov-94 08:49:37 GMT", 0},
		{"Sunday 06-Nov-94 08:49:37 GMT", 0},
		{"Sun Nov 6 08:49:37 1994", 0},
		{"Sun Nov  6 08:49:37 1994 GMT", 0},
		{"Sunday", 0},
		{"Sundays", 0},
	} {
		at, ok := parseHTTPDate([]byte(tc.in), now)
		if ok != (tc.at != 0) || at != tc.at {
			t.Errorf("%q: %d %v, want %d", tc.in, at, ok, tc.at)
		}
	}
}

// FuzzParseHTTPDate checks the parser against the time package with the
// RFC's three layouts: what one reads, the other reads the same way,
// except where time.Parse is more lenient than RFC 9110 (letter case,
// fractional seconds, a wrong weekday: its reading is then not the
// canonical text) or stricter (a leap second), and with the RFC's rule
// for two-digit years.
// Every split point of a valid date is refused (no partial reads).
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Wed, 31 Dec 2025 23:59:60 GMT", "Thu, 29 Feb 2024 00:00:00 GMT", "Mon, 29 Feb 2100 00:00:00 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT", "0", "Thu, 01 Jan 1970 00:00:00 GMT", "Tuesday, 01-Jan-75 00:00:00 GMT",
	} {
		f.Add(s)
	}
	now := time.Now().Unix()
	nowYear := time.Unix(now, 0).UTC().Year()
	f.Fuzz(func(t *testing.T, s string) {
		at, ok := parseHTTPDate([]byte(s), now)
		if ok {
			for i := 1; i < len(s); i++ {
				if _, ok := parseHTTPDate([]byte(s[:i]), now); ok {
					t.Fatalf("%q: its first %d bytes are read as a date", s, i)
				}
			}
		}
		for _, layout := range []string{http.TimeFormat, "Monday, 02-Jan-06 15:04:05 GMT", time.ANSIC} {
			ref, err := time.Parse(layout, s)
			if err != nil {
				continue
			}
			if strings.HasPrefix(layout, "Monday") {
				y := nowYear - nowYear%100 + ref.Year()%100
				if y > nowYear+50 {
					y -= 100
				}
				ref = time.Date(y, ref.Month(), ref.Day(), ref.Hour(), ref.Minute(), ref.Second(), 0, time.UTC)
			}
			if ref.Format(layout) != s {
				continue // another weekday, letter case, fractional seconds...: not as the RFC writes it
			}
			if !ok || at != ref.Unix() {
				t.Fatalf("%q: %d %v; time.Parse(%q) reads %v (%d)", s, at, ok, layout, ref, ref.Unix())
			}
			return
		}
		// Accepted, and time.Parse refused it or read another text: only a
		// leap second, or asctime's day with a leading zero, may be.
		leap := strings.Contains(s, ":60")
		asctimeZero := len(s) == len("Sun Nov 06 08:49:37 1994") && s[3] == ' ' && s[8] == '0'
		if ok && !leap && !asctimeZero {
			t.Fatalf("%q: read as %d, which time.Parse refuses", s, at)
		}
	})
}
