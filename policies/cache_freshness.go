package policies

import (
	"time"

	"github.com/sluice-gw/sluice/engine"
)

// Freshness inputs besides Cache-Control (cacheControlTTL, cache.go): the
// upstream's Age and Expires (RFC 9111 §4.2, §5.1, §5.3). They are read on
// the fill path, once per stored response; nothing here allocates.

// upstreamAge is the response's Age (§5.1): its first member, as
// delta-seconds (2^31 at most); an invalid one is ignored (0). The
// gateway does not add the apparent age (now less Date): gateway and
// upstream clocks disagree more often than a response is delayed.
func upstreamAge(x *engine.Ctx) time.Duration {
	v, ok := x.ResponseHeader("Age")
	if !ok {
		return 0
	}
	first, _ := cutListItem(v)
	d, ok := deltaSeconds(first)
	if !ok {
		return 0
	}
	return d
}

// expiresLifetime is the freshness lifetime an Expires value gives
// (§4.2.1): Expires less Date, or less now when Date is absent or
// invalid; 2^31 s at most. An invalid Expires ("0", "-1", another
// format) means already expired: 0.
func expiresLifetime(x *engine.Ctx, expires []byte) time.Duration {
	now := x.Now() / int64(time.Second)
	at, ok := parseHTTPDate(expires, now)
	if !ok {
		return 0
	}
	base := now
	if d, ok := x.ResponseHeader("Date"); ok {
		if date, ok := parseHTTPDate(d, now); ok {
			base = date
		}
	}
	secs := min(at-base, maxDeltaSeconds)
	if secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// parseHTTPDate reads an HTTP-date (RFC 9110 §5.6.7) and returns it in
// unix seconds. It accepts the three forms a recipient must accept, and
// nothing else (no other zone than GMT, no lenient spacing, no lower-case
// names, no day 31 of a short month):
//
//	IMF-fixdate  Sun, 06 Nov 1994 08:49:37 GMT
//	rfc850-date  Sunday, 06-Nov-94 08:49:37 GMT
//	asctime      Sun Nov  6 08:49:37 1994
//
// A two-digit year more than 50 years ahead of now (unix seconds) is of
// the century before (§5.6.7). The weekday must be the date's (as
// Varnish checks it; the RFC does not ask it, but a date whose weekday is
// wrong was not made by a clock). It does not allocate.
func parseHTTPDate(b []byte, now int64) (int64, bool) {
	var (
		year, month, day, wday int
		clock                  []byte
	)
	switch {
	case len(b) == len("Sun, 06 Nov 1994 08:49:37 GMT") && b[3] == ',':
		if wday = dayName(b[:3]); wday < 0 || b[4] != ' ' || b[7] != ' ' || b[11] != ' ' || b[16] != ' ' || string(b[25:]) != " GMT" {
			return 0, false
		}
		day, month, year = fixedDigits(b[5:7]), monthOf(b[8:11]), fixedDigits(b[12:16])
		clock = b[17:25]
	case len(b) == len("Sun Nov  6 08:49:37 1994") && b[3] == ' ':
		if wday = dayName(b[:3]); wday < 0 || b[7] != ' ' || b[10] != ' ' || b[19] != ' ' {
			return 0, false
		}
		month, year = monthOf(b[4:7]), fixedDigits(b[20:24])
		if b[8] == ' ' {
			day = fixedDigits(b[9:10])
		} else {
			day = fixedDigits(b[8:10])
		}
		clock = b[11:19]
	default:
		var comma int
		if wday, comma = longDayName(b); wday < 0 {
			return 0, false
		}
		rest := b[comma:]
		if len(rest) != len(", 06-Nov-94 08:49:37 GMT") || rest[0] != ',' || rest[1] != ' ' ||
			rest[4] != '-' || rest[8] != '-' || rest[11] != ' ' || string(rest[20:]) != " GMT" {
			return 0, false
		}
		day, month, year = fixedDigits(rest[2:4]), monthOf(rest[5:8]), fixedDigits(rest[9:11])
		if year >= 0 {
			thisYear := time.Unix(now, 0).UTC().Year()
			year += thisYear - thisYear%100
			if year > thisYear+50 {
				year -= 100
			}
		}
		clock = rest[12:20]
	}
	if clock[2] != ':' || clock[5] != ':' {
		return 0, false
	}
	h, m, s := fixedDigits(clock[0:2]), fixedDigits(clock[3:5]), fixedDigits(clock[6:8])
	if year < 0 || month < 1 || day < 1 || day > daysIn(month, year) || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 60 {
		return 0, false
	}
	midnight := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC).Unix()
	if days := midnight / 86400; int((days%7+7+3)%7) != wday { // 1970-01-01 was a Thursday (3)
		return 0, false // a generator that got the weekday wrong got more wrong
	}
	return midnight + int64(h*3600+m*60+s), true
}

// fixedDigits reads b as a decimal number, -1 when it holds anything else.
func fixedDigits(b []byte) int {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

var (
	weekdayNames     = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	longWeekdayNames = [7]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	monthNames       = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// dayName is the index (Monday 0) of a day-name (case-sensitive), or -1.
func dayName(b []byte) int {
	for i, n := range weekdayNames {
		if string(b) == n {
			return i
		}
	}
	return -1
}

// longDayName returns the index and length of the day-name-l that starts
// b, or -1.
func longDayName(b []byte) (wday, n int) {
	for i, name := range longWeekdayNames {
		if len(b) > len(name) && string(b[:len(name)]) == name {
			return i, len(name)
		}
	}
	return -1, 0
}

// monthOf is the month (1..12) a month name (case-sensitive) names, or -1.
func monthOf(b []byte) int {
	for i, n := range monthNames {
		if string(b) == n {
			return i + 1
		}
	}
	return -1
}

// daysIn is the number of days of month in year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
