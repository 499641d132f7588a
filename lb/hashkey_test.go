package lb

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestParseHashOn(t *testing.T) {
	good := map[string]HashKeySpec{
		"":              {Source: HashOnIP},
		"ip":            {Source: HashOnIP},
		"header:X-User": {Source: HashOnHeader, Name: "X-User"},
		"cookie:sid":    {Source: HashOnCookie, Name: "sid"},
		"uri":           {Source: HashOnURI},
		"arg:user":      {Source: HashOnArg, Name: "user"},
		"consumer":      {Source: HashOnConsumer},
	}
	for in, want := range good {
		got, err := ParseHashOn(in)
		if err != nil || got != want {
			t.Errorf("ParseHashOn(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("String() = %q, want %q", got.String(), in)
		}
	}
	for _, in := range []string{"header", "header:", "cookie", "arg:", "ip:x", "uri:/a", "host", "consumer:x"} {
		if _, err := ParseHashOn(in); !errors.Is(err, ErrHashOn) {
			t.Errorf("ParseHashOn(%q) err %v, want ErrHashOn", in, err)
		}
	}
}

func TestCookieValue(t *testing.T) {
	cases := []struct {
		header, name string
		want         string
		found        bool
	}{
		{"sid=abc", "sid", "abc", true},
		{"a=1; sid=abc; b=2", "sid", "abc", true},
		{"a=1;sid=abc", "sid", "abc", true},
		{"  sid=abc  ", "sid", "abc", true},
		{`sid="quoted"`, "sid", "quoted", true},
		{"sid=", "sid", "", true},
		{"sid=1; sid=2", "sid", "1", true},
		{"xsid=1; sidx=2", "sid", "", false},
		{"sid", "sid", "", false},
		{"", "sid", "", false},
		{"a=b=c", "a", "b=c", true},
	}
	for _, c := range cases {
		got := CookieValue([]byte(c.header), c.name)
		if (got != nil) != c.found || string(got) != c.want {
			t.Errorf("CookieValue(%q, %q) = %q (found %v), want %q (found %v)", c.header, c.name, got, got != nil, c.want, c.found)
		}
	}
}

// TestCookieValueMatchesNetHTTP checks well-formed headers against net/http.
func TestCookieValueMatchesNetHTTP(t *testing.T) {
	for _, h := range []string{"a=1; b=2; c=3", `sid="x y"`, "theme=dark;lang=en", "k=v%20w"} {
		r := &http.Request{Header: http.Header{"Cookie": {h}}}
		for _, ck := range r.Cookies() {
			if got := CookieValue([]byte(h), ck.Name); string(got) != ck.Value {
				t.Errorf("CookieValue(%q, %q) = %q, net/http %q", h, ck.Name, got, ck.Value)
			}
		}
	}
}

func TestQueryArg(t *testing.T) {
	cases := []struct {
		uri, name string
		want      string
		found     bool
	}{
		{"/p?user=42", "user", "42", true},
		{"/p?a=1&user=42&b=2", "user", "42", true},
		{"/p?user=1&user=2", "user", "1", true},
		{"/p?user", "user", "", true},
		{"/p?user=", "user", "", true},
		{"/p?user=a%20b", "user", "a%20b", true},
		{"/p?xuser=1", "user", "", false},
		{"/p", "user", "", false},
		{"/p?a=1#user=2", "user", "", false},
		{"/p?user=3#frag", "user", "3", true},
		{"/user=1", "user", "", false},
		{"/p?&&user=5", "user", "5", true},
	}
	for _, c := range cases {
		got := QueryArg([]byte(c.uri), c.name)
		if (got != nil) != c.found || string(got) != c.want {
			t.Errorf("QueryArg(%q, %q) = %q (found %v), want %q (found %v)", c.uri, c.name, got, got != nil, c.want, c.found)
		}
	}
}

// TestQueryArgMatchesNetURL checks unescaped queries against net/url.
func TestQueryArgMatchesNetURL(t *testing.T) {
	for _, q := range []string{"a=1&b=2&c", "user=42&user=43", "x=&y=z"} {
		vals, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range vals {
			if got := QueryArg([]byte("/p?"+q), name); string(got) != v[0] {
				t.Errorf("QueryArg(%q, %q) = %q, net/url %q", q, name, got, v[0])
			}
		}
	}
}

// refCookieValue and refQueryArg are the simplest correct versions, the
// oracles of the fuzz targets.
func refCookieValue(h, name string) (string, bool) {
	for _, pair := range strings.Split(h, ";") {
		pair = strings.Trim(pair, " \t")
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k != name {
			continue
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return "", false
}

func refQueryArg(uri, name string) (string, bool) {
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		return "", false
	}
	q, _, _ = strings.Cut(q, "#")
	for _, arg := range strings.Split(q, "&") {
		if arg == "" {
			continue
		}
		k, v, _ := strings.Cut(arg, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

func FuzzCookieValue(f *testing.F) {
	for _, s := range []string{"sid=abc", "a=1; sid=abc; b=2", `sid="q"`, "sid", ";;", " sid = x ", "sid=\"", "a=b=c"} {
		f.Add(s, "sid")
	}
	f.Fuzz(func(t *testing.T, h, name string) {
		got := CookieValue([]byte(h), name)
		want, found := refCookieValue(h, name)
		if (got != nil) != found || string(got) != want {
			t.Fatalf("CookieValue(%q, %q) = %q (found %v), reference %q (found %v)", h, name, got, got != nil, want, found)
		}
	})
}

func FuzzQueryArg(f *testing.F) {
	for _, s := range []string{"/p?user=42", "/p?a=1&user=2", "/p?user", "/p?a#user=1", "/p??user=1", "?=&=", "/p?&user=&"} {
		f.Add(s, "user")
	}
	f.Fuzz(func(t *testing.T, uri, name string) {
		got := QueryArg([]byte(uri), name)
		want, found := refQueryArg(uri, name)
		if (got != nil) != found || string(got) != want {
			t.Fatalf("QueryArg(%q, %q) = %q (found %v), reference %q (found %v)", uri, name, got, got != nil, want, found)
		}
	})
}
