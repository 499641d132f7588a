package policies_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/policies"
)

// FuzzCacheUpstreamAnswer lets the upstream answer with any Cache-Control,
// Vary, Set-Cookie, Expires, Age and status, and asks twice: the second
// answer is a HIT exactly when RFC 9111's rules, written apart below,
// let a shared cache store the first for a second or more, and then it is
// the same body, without the Set-Cookie, with an Age the cache computed.
func FuzzCacheUpstreamAnswer(f *testing.F) {
	for _, s := range [][5]string{
		{"max-age=60", "", "", "200", ""},
		{"public, max-age=60", "Accept-Encoding", "", "200", "3600"},
		{"s-maxage=0, max-age=60", "", "", "200", ""},
		{"max-age=0, s-maxage=60", "", "", "200", ""},
		{"no-store", "", "", "200", ""},
		{"PRIVATE", "", "", "200", ""},
		{"no-cache=\"Set-Cookie\"", "", "", "200", ""},
		{"max-age=60", "*", "", "200", ""},
		{"max-age=60", " , ", "", "200", ""},
		{"max-age=60", "", "s=1; HttpOnly", "200", ""},
		{"max-age=60", "", "", "404", ""},
		{"max-age=60", "", "", "206", ""},
		{"max-age=-1", "", "", "200", ""},
		{"max-age=1e3", "", "", "200", ""},
		{"max-age = 60", "", "", "200", "-5"},
		{"max-age=\"60\"", "", "", "200", ""},
		{"max-age=9223372036854775807", "", "", "200", ""},
		{"max-age=99999999999999999999", "", "", "200", ""},
		{"max-age=2147483648", "", "", "200", ""},
		{"max-age=18446744074", "", "", "200", ""},
		{"max-age=9000000000", "", "", "200", ""},
		{",,,max-age=60,,,", "", "", "200", "abc"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], `{"a":1}`)
	}
	f.Fuzz(func(t *testing.T, cc, vary, setCookie, status, age, body string) {
		code, err := strconv.Atoi(status)
		for _, v := range []string{cc, vary, setCookie, age} {
			if !http1.ValidFieldValue(v) {
				return
			}
		}
		if err != nil || code < 200 || code > 599 || code == 204 || code == 304 || len(cc)+len(vary)+len(setCookie)+len(age)+len(body) > 4<<10 {
			return
		}
		up := &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
			for name, v := range map[string]string{"Cache-Control": cc, "Vary": vary, "Set-Cookie": setCookie, "Age": age} {
				if v != "" {
					w.Header().Set(name, v)
				}
			}
			w.Header().Set("Expires", "Thu, 01 Jan 1970 00:00:00 GMT") // ignored: Cache-Control rules
			w.WriteHeader(code)
			w.Write([]byte(body))
		}}
		g := enginetest.New(t, cacheYAML(`{ ttl: 60s }`, ""), policies.Build, up)
		resp, body1 := cacheGet(t, g, "GET", "/r")
		wantCache(t, resp, "MISS")
		resp, body2 := cacheGet(t, g, "GET", "/r")
		got := resp.Header.Get("X-Cache-Status")
		want := cacheOracle(cc, vary, setCookie, code)
		if want != "" && got != want {
			t.Fatalf("Cache-Control %q Vary %q Set-Cookie %q status %d: %s, want %s", cc, vary, setCookie, code, got, want)
		}
		if got != "HIT" {
			return
		}
		if body1 != body2 || resp.StatusCode != code || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("a HIT of %d %q (Set-Cookie %q) answered %d %q (Set-Cookie %q)", code, body1, setCookie, resp.StatusCode, body2, resp.Header.Get("Set-Cookie"))
		}
		if a, err := strconv.Atoi(resp.Header.Get("Age")); err != nil || a < 0 || a > 5 || len(resp.Header.Values("Age")) != 1 {
			t.Fatalf("Age %q on a HIT just stored (the upstream said %q)", resp.Header.Values("Age"), age)
		}
	})
}

// cacheOracle is what a second request must see after the upstream's
// answer with the config { ttl: 60s }: HIT, MISS, or "" when either may be
// right (a TTL under two seconds, a quoted directive).
func cacheOracle(cc, vary, setCookie string, status int) string {
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
	switch {
	case ttl < 0:
		return "HIT" // the config's 60s
	case ttl == 0:
		return "MISS"
	case ttl < 2:
		return ""
	}
	return "HIT"
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
