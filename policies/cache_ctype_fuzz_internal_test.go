package policies

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzCacheContentTypeMatcher: every content_types entry the config
// accepts gives a matcher that cannot panic on any response Content-Type
// (an accepted "" made it index past its end, a 500 for every response),
// and agrees with a plain reading of the documented forms.
func FuzzCacheContentTypeMatcher(f *testing.F) {
	for _, seed := range [][2]string{
		{"", "application/json"},
		{"bogus", "bogus"},
		{"application/json", "Application/JSON; charset=utf-8"},
		{"+json", "application/problem+json"},
		{"+json", "+json"},
		{"text/*", "text/"},
		{"text/*", "text/plain"},
		{"*/*", ""},
		{"*", "x"},
		{" Image/PNG ", "image/png"},
		{"/", ";"},
		{"+", "+"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, entry, contentType string) {
		a, err := contentTypeEntry(entry)
		if err != nil {
			return
		}
		if a == "" {
			t.Fatalf("entry %q accepted as empty", entry)
		}
		p := &cachePolicy{ctypes: []string{a}}
		got := p.contentTypeOK([]byte(contentType))

		base, _, _ := strings.Cut(contentType, ";")
		base = strings.ToLower(strings.TrimSpace(base))
		var want bool
		switch {
		case a == "*":
			return // "*" clears the list: the matcher is not asked
		case a[0] == '+':
			want = len(base) > len(a) && strings.HasSuffix(base, a)
		case strings.HasSuffix(a, "/*"):
			want = len(base) > len(a)-1 && strings.HasPrefix(base, a[:len(a)-1])
		default:
			want = base == a
		}
		if got != want && asciiOnly(contentType) {
			t.Fatalf("entry %q (%q), Content-Type %q: matched %v, want %v", entry, a, contentType, got, want)
		}
	})
}

// asciiOnly: strings.ToLower and the matcher's ASCII folding disagree on
// other bytes, which no media type has.
func asciiOnly(s string) bool {
	return bytes.IndexFunc([]byte(s), func(r rune) bool { return r >= 0x80 }) < 0
}
