package policies_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/http1"
	"github.com/sluice-gw/sluice/policies"
)

const rewriteFuzzConfig = `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
routes:
  - name: template
    match: { paths: ["/t/*"] }
    upstream: up
    policies:
      - { name: proxy-rewrite, config: { uri: "/u/{http_x_user}/{arg_q}" } }
  - name: regex
    match: { paths: ["/r/*"] }
    upstream: up
    policies:
      - { name: proxy-rewrite, config: { regex_uri: ["^/r/([^/]*)/?(.*)$", "/$1/v2/${2}?k=$1"] } }
  - name: capture-first
    match: { paths: ["/c/*"] }
    upstream: up
    policies:
      - { name: proxy-rewrite, config: { regex_uri: ["^/c/(.*)$", "$1"] } }
  - name: redirect
    match: { paths: ["/go/*"] }
    upstream: up
    policies:
      - { name: proxy-rewrite, config: { redirect: { to: "https://example.com{uri}" } } }
  - name: https
    match: { paths: ["/s/*"] }
    upstream: up
    policies:
      - { name: proxy-rewrite, config: { redirect: { https: true } } }
`

// FuzzProxyRewriteTarget sends paths, queries and a header of the
// client's choosing through proxy-rewrite's template, regex and
// redirects: the upstream gets a request-target that starts with / and
// holds no byte a request line may not; a redirect's Location stays on
// the host the config (or the request's valid Host) names; a rewrite the
// client's bytes make invalid is a 400 that says so, never a 500.
func FuzzProxyRewriteTarget(f *testing.F) {
	for _, s := range [][3]string{
		{"/t/a", "q=1", "alice"}, {"/t/", "", "a b"}, {"/t/x", "q=%0d%0a", "\xff"},
		{"/r/users/42", "page=3", ""}, {"/r/", "", ""}, {"/r//evil.com", "", ""}, {"/r/a", "", ""},
		{"/r/%2e%2e/x", "", ""}, {"/r/@evil.com/x", "a=%00", ""},
		{"/c//x", "", ""}, {"/c/x", "", ""}, {"/c/", "", ""},
		{"/go/x", "next=//evil.com", ""}, {"/go//evil.com", "", ""}, {"/go/@evil.com", "", ""}, {"/go/%0d%0aSet-Cookie:x", "", ""},
		{"/s/x", "a=1", ""}, {"/s//evil.com/x", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, path, query, user string) {
		if len(path)+len(query)+len(user) > 4<<10 {
			return
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		if !validTarget(target) || !http1.ValidFieldValue(user) {
			return // the parser's 400, fuzzed apart (http1)
		}
		_, badQuery := url.QueryUnescape(query)
		if _, err := url.ParseRequestURI(target); err != nil || badQuery != nil || strings.Contains(user, "%") {
			// A bad escape: net/http, the harness's client and upstream,
			// cannot read it. The query's count too: {arg_q} puts an
			// argument into the path as it was sent, as nginx's $arg_q
			// does, and ParseRequestURI checks no query.
			return
		}
		g := enginetest.New(t, rewriteFuzzConfig, policies.Build, authEchoUpstream())
		raw := "GET " + target + " HTTP/1.1\r\nHost: api.test\r\n"
		if user != "" {
			raw += "X-User: " + user + "\r\n"
		}
		resp := g.Do(raw + "\r\n")
		body := readAll(resp)
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("%q (X-User %q): %d %s", target, user, resp.StatusCode, body)
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc := resp.Header.Get("Location")
			if !strings.HasPrefix(loc, "https://example.com/") && !strings.HasPrefix(loc, "https://api.test/") {
				t.Fatalf("%q: Location %q leaves the configured host", target, loc)
			}
		case resp.StatusCode == 200:
			var e echoed
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.HasPrefix(e.Target, "/") || !validTarget(e.Target) {
				t.Fatalf("%q (X-User %q): the upstream got %q (%v)", target, user, e.Target, err)
			}
		case resp.StatusCode == 404:
			// No route: the path is outside /t/, /r/, /c/, /go/ and /s/.
		case resp.StatusCode == 400:
			if !strings.Contains(body, "proxy-rewrite") {
				t.Fatalf("%q (X-User %q): a 400 that does not say why: %s", target, user, body)
			}
		default:
			t.Fatalf("%q (X-User %q): %d %s", target, user, resp.StatusCode, body)
		}
	})
}

// validTarget says whether t is an origin-form target the parser takes:
// / then VCHARs but #.
func validTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f || t[i] == '#' {
			return false
		}
	}
	return true
}

// TestProxyRewriteHTTPSRedirectWithoutHost: an HTTP/1.0 request without
// Host was sent to "https://" + "" + its target, a Location such as
// https:///evil.com/x that browsers read as https://evil.com/x (an open
// redirect wherever a route matches /*); it is a 400 now.
func TestProxyRewriteHTTPSRedirectWithoutHost(t *testing.T) {
	g := enginetest.New(t, rewriteFuzzConfig+`  - name: any
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: proxy-rewrite, config: { redirect: { https: true } } }
`, policies.Build, authEchoUpstream())
	for _, tc := range []struct{ raw, status, location string }{
		{"GET /evil.com/x HTTP/1.0\r\n\r\n", "400", ""},
		{"GET //evil.com/x HTTP/1.0\r\n\r\n", "400", ""},
		{"GET /evil.com/x HTTP/1.0\r\nHost: api.test\r\n\r\n", "301", "https://api.test/evil.com/x"},
		{"GET /s/x HTTP/1.1\r\nHost: api.test\r\n\r\n", "301", "https://api.test/s/x"},
	} {
		resp := g.Do(tc.raw)
		if got := strconv.Itoa(resp.StatusCode); got != tc.status || resp.Header.Get("Location") != tc.location {
			t.Fatalf("%q: %s Location %q, want %s %q", tc.raw, got, resp.Header.Get("Location"), tc.status, tc.location)
		}
	}
}
