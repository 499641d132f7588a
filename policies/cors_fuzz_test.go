package policies

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzOriginMatch checks the CORS origin checks on any Origin a client
// sends against regular expressions written from their docs: an origin is
// allowed when it is one of the exact origins, as browsers serialize them
// (lower case), or a pattern's scheme, one or more labels of [a-z0-9-]
// and the pattern's suffix, nothing else; with "*" and credentials, when
// it is scheme://host[:port] in lower case. A false positive here is a
// site that may read another's responses with the user's cookies.
func FuzzOriginMatch(f *testing.F) {
	allowed := []string{"https://app.example.com", "https://b.example.com", "https://*.example.org", "HTTPS://*.Example.NET:8443", "http://*.a-b.io"}
	var set originSet
	for _, o := range allowed {
		if err := set.add(o, len(allowed)); err != nil {
			f.Fatal(err)
		}
	}
	var want []*regexp.Regexp
	for _, o := range allowed {
		o = strings.ToLower(o)
		expr := regexp.QuoteMeta(o)
		if star := strings.IndexByte(o, '*'); star >= 0 {
			expr = regexp.QuoteMeta(o[:star]) + `[a-z0-9-]+(\.[a-z0-9-]+)*` + regexp.QuoteMeta(o[star+1:])
		}
		want = append(want, regexp.MustCompile(`\A`+expr+`\z`))
	}
	wellFormed := regexp.MustCompile(`\A[a-z][a-z0-9+.-]*://[a-z0-9.:\[\]-]+\z`)
	for _, s := range []string{
		"https://app.example.com", "https://a.example.org", "https://a-1.b2.example.org", "https://example.org", "https://.example.org",
		"https://a..example.org", "https://A.example.org", "https://a.example.org.evil.com", "https://evil.com/.example.org",
		"https://evil.com?.example.org", "https://u@a.example.org", "https://evil.com:1.example.org", "https://x.example.net:8443",
		"https://x.example.net", "https://x.example.net:84430", "http://-.a-b.io", "http://a_b.a-b.io", "null", "", "https://",
		"https://[::1]:8443", "chrome-extension://abc", "https://app.example.com\x00", "https://app.example.com ", "\xffhttps://a.example.org",
		"https://" + strings.Repeat("a.", 2000) + "example.org",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, origin []byte) {
		match := false
		for _, re := range want {
			match = match || re.Match(origin)
		}
		if got := set.match(origin); got != match {
			t.Fatalf("match(%q) = %v, the allowed origins say %v", origin, got, match)
		}
		if got := wellFormedOrigin(origin); got != wellFormed.Match(origin) {
			t.Fatalf("wellFormedOrigin(%q) = %v", origin, got)
		}
		p := cors{origins: originSet{any: true}, credentials: true}
		if p.allowed(origin) != wellFormed.Match(origin) {
			t.Fatalf(`"*" with credentials: allowed(%q) = %v`, origin, p.allowed(origin))
		}
	})
}
