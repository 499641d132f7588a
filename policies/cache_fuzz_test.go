package policies_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/policies"
)

// FuzzCacheUpstreamAnswer lets the upstream answer with any Cache-Control,
// Vary, Set-Cookie, Expires, Date, Age and status, and asks twice: the
// second answer is a HIT exactly when RFC 9111's rules, written apart
// below, let a shared cache store the first for a second or more, and
// then it is the same body, without the Set-Cookie, with an Age that is
// the upstream's plus the time in cache.
func FuzzCacheUpstreamAnswer(f *testing.F) {
	soon := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	for _, s := range [][7]string{
		{"max-age=60", "", "", "200", "", "", ""},
		{"public, max-age=60", "Accept-Encoding", "", "200", "3600", "", ""},
		{"s-maxage=0, max-age=60", "", "", "200", "", "", ""},
		{"max-age=0, s-maxage=60", "", "", "200", "", "", ""},
		{"no-store", "", "", "200", "", "", ""},
		{"PRIVATE", "", "", "200", "", "", ""},
		{"no-cache=\"Set-Cookie\"", "", "", "200", "", "", ""},
		{"max-age=60", "*", "", "200", "", "", ""},
		{"max-age=60", " , ", "", "200", "", "", ""},
		{"max-age=60", "", "s=1; HttpOnly", "200", "", "", ""},
		{"max-age=60", "", "", "404", "", "", ""},
		{"max-age=60", "", "", "206", "", "", ""},
		{"max-age=-1", "", "", "200", "", "", ""},
		{"max-age=1e3", "", "", "200", "", "", ""},
		{"max-age = 60", "", "", "200", "-5", "", ""},
		{"max-age=\"60\"", "", "", "200", "", "", ""},
		{"max-age=9223372036854775807", "", "", "200", "", "", ""},
		{"max-age=99999999999999999999", "", "", "200", "", "", ""},
		{"max-age=2147483648", "", "", "200", "", "", ""},
		{"max-age=18446744074", "", "", "200", "", "", ""},
		{"max-age=9000000000", "", "", "200", "", "", ""},
		{",,,max-age=60,,,", "", "", "200", "abc", "", ""},
		// Age counts against the lifetime (§4.2.3).
		{"max-age=60", "", "", "200", "50", "", ""},
		{"max-age=60", "", "", "200", "60", "", ""},
		{"max-age=60", "", "", "200", "59, 1", "", ""},
		{"", "", "", "200", "61", "", ""}, // against the config's 60s too
		{"s-maxage=2147483648", "", "", "200", "99999999999", "", ""},
		// Expires less Date, or less now (§4.2.1); max-age wins (§5.3).
		{"", "", "", "200", "", "Thu, 01 Jan 1970 00:00:00 GMT", ""},
		{"max-age=60", "", "", "200", "", "Thu, 01 Jan 1970 00:00:00 GMT", ""},
		{"", "", "", "200", "", "0", ""},
		{"", "", "", "200", "", "-1", ""},
		{"public", "", "", "200", "", soon(time.Hour), ""},
		{"", "", "", "200", "10", soon(time.Hour), soon(0)},
		{"", "", "", "200", "", soon(time.Hour), "Thu, 01 Jan 1970 00:00:00 GMT"},
		{"", "", "", "200", "", soon(time.Hour), "Fri, 01 Jan 2100 00:00:00 GMT"},
		{"", "", "", "200", "", soon(time.Hour), "garbage"},
		{"", "", "", "200", "", "Fri, 31 Dec 9999 23:59:59 GMT", ""},
		{"", "", "", "200", "", "Sunday, 06-Nov-94 08:49:37 GMT", ""},
		{"", "", "", "200", "", "Sun Nov  6 08:49:37 2094", ""},
		{"", "", "", "200", "", "sun, 06 nov 2094 08:49:37 gmt", ""},
		{"", "", "", "200", "", "Sun, 06 Nov 2094 08:49:37 PST", ""},
		{"", "", "", "200", "", "Sat, 31 Jun 2094 08:49:37 GMT", ""},
		{"", "", "", "200", "", "Sat, 30 Jun 2094 23:59:60 GMT", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], `{"a":1}`)
	}
	f.Fuzz(func(t *testing.T, cc, vary, setCookie, status, age, expires, date, body string) {
		code, err := strconv.Atoi(status)
		for _, v := range []string{cc, vary, setCookie, age, expires, date} {
			if !http1.ValidFieldValue(v) {
				return
			}
		}
		if err != nil || code < 200 || code > 599 || code == 204 || code == 304 ||
			len(cc)+len(vary)+len(setCookie)+len(age)+len(expires)+len(date)+len(body) > 4<<10 {
			return
		}
		up := &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
			for name, v := range map[string]string{"Cache-Control": cc, "Vary": vary, "Set-Cookie": setCookie, "Age": age, "Expires": expires, "Date": date} {
				if v != "" {
					w.Header().Set(name, v)
				}
			}
			if date == "" {
				w.Header()["Date"] = nil // none: Expires counts from the time it arrived
			}
			w.WriteHeader(code)
			w.Write([]byte(body))
		}}
		g := enginetest.New(t, cacheYAML(`{ ttl: 60s }`, ""), policies.Build, up)
		resp, body1 := cacheGet(t, g, "GET", "/r")
		wantCache(t, resp, "MISS")
		resp, body2 := cacheGet(t, g, "GET", "/r")
		got := resp.Header.Get("X-Cache-Status")
		want := cacheOracle(cc, vary, setCookie, age, expires, date, code, time.Now())
		if want != "" && got != want {
			t.Fatalf("Cache-Control %q Vary %q Set-Cookie %q Age %q Expires %q Date %q status %d: %s, want %s", cc, vary, setCookie, age, expires, date, code, got, want)
		}
		if got != "HIT" {
			return
		}
		if body1 != body2 || resp.StatusCode != code || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("a HIT of %d %q (Set-Cookie %q) answered %d %q (Set-Cookie %q)", code, body1, setCookie, resp.StatusCode, body2, resp.Header.Get("Set-Cookie"))
		}
		upAge, _ := ageSeconds(age)
		if a, err := strconv.ParseInt(resp.Header.Get("Age"), 10, 64); err != nil || a-upAge < 0 || a-upAge > 5 || len(resp.Header.Values("Age")) != 1 {
			t.Fatalf("Age %q on a HIT just stored (the upstream said %q)", resp.Header.Values("Age"), age)
		}
	})
}

// cacheOracle is what a second request must see after the upstream's
// answer with the config { ttl: 60s }: HIT, MISS, or "" when either may be
// right (a freshness under two seconds, a quoted directive, an Expires
// the reference cannot judge).
func cacheOracle(cc, vary, setCookie, age, expires, date string, status int, now time.Time) string {
	if status != 200 || setCookie != "" || strings.Contains(cc, `"`) {
		if strings.Contains(cc, `"`) && status == 200 && setCookie == "" {
			return ""
		}
		return "MISS"
	}
	for _, v := range strings.Split(vary, ",") {
		if strings.TrimSpace(v) != "" {
			return "MISS"
		}
	}
	ttl, maxAge := int64(-1), int64(-1)
	for _, d := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		name, val = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val)
		switch name {
		case "no-store", "no-cache", "private":
			return "MISS"
		case "s-maxage", "max-age":
			n, ok := deltaSeconds(val)
			if !ok {
				continue
			}
			if name == "s-maxage" {
				ttl = n
			} else {
				maxAge = n
			}
		}
	}
	if ttl < 0 {
		ttl = maxAge
	}
	if ttl < 0 && expires != "" {
		// §4.2.1: Expires less Date (less the time it arrived without a
		// valid Date); an invalid Expires is already expired.
		exp, ok, sure := refHTTPDate(expires, now)
		if !sure {
			return ""
		}
		base := now
		if d, ok, sure := refHTTPDate(date, now); date != "" && !sure {
			return ""
		} else if ok {
			base = d
		}
		switch {
		case !ok:
			ttl = 0
		default:
			ttl = min(max(int64(exp.Sub(base)/time.Second), 0), 1<<31)
			if d := exp.Sub(base); d > -2*time.Second && d < 2*time.Second {
				return "" // seconds apart from now: the clock decides
			}
		}
	}
	if ttl < 0 {
		ttl = 60 // the config's
	}
	a, _ := ageSeconds(age) // §5.1: an invalid Age is ignored
	switch fresh := ttl - a; {
	case fresh <= 0:
		return "MISS"
	case fresh < 2:
		return ""
	}
	return "HIT"
}

// ageSeconds reads an Age value: its first member, as delta-seconds.
func ageSeconds(v string) (int64, bool) {
	first, _, _ := strings.Cut(v, ",")
	return deltaSeconds(strings.TrimSpace(first))
}

// refHTTPDate reads an HTTP-date with the time package, by the three
// layouts of RFC 9110 §5.6.7, as the RFC writes them: time.Parse's
// reading must format back to the same text (not so with another letter
// case, fractional seconds, or a weekday that is not the date's; then it
// is invalid). sure is false for what time.Parse refuses but the RFC
// allows (a leap second, asctime's day with a leading zero).
func refHTTPDate(s string, now time.Time) (t time.Time, ok, sure bool) {
	for _, layout := range []string{http.TimeFormat, "Monday, 02-Jan-06 15:04:05 GMT", time.ANSIC} {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if strings.HasPrefix(layout, "Monday") {
			// rfc850-date: a year more than 50 years ahead is of the
			// century before; time.Parse took 69..99 as 19xx.
			y := now.Year() - now.Year()%100 + t.Year()%100
			if y > now.Year()+50 {
				y -= 100
			}
			t = time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
		}
		if t.Format(layout) == s {
			return t, true, true
		}
	}
	asctimeZero := len(s) == len(time.ANSIC) && s[3] == ' ' && s[8] == '0'
	return time.Time{}, false, !strings.Contains(s, ":60") && !asctimeZero
}

// deltaSeconds reads RFC 9111's delta-seconds: digits, a value past 2^31
// being 2^31 (§1.2.2).
func deltaSeconds(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	n := int64(0)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = min(n*10+int64(s[i]-'0'), 1<<31)
	}
	return n, true
}
