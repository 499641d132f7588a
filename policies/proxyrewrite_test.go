package policies_test

import (
	"net/http"
	"strings"
	"testing"
)

// echoRequestLine answers the method, target and Host it received.
func echoRequestLine(t testing.TB) string {
	return startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Method + " " + r.RequestURI + " host=" + r.Host))
	})
}

func rewriteGateway(t *testing.T, routeExtra, policyConfig string) *gateway {
	return startGateway(t, echoRequestLine(t), `listen: {listen}
workers: 1
upstreams: [{name: u, targets: [{addr: "{upstream}"}]}]
routes:
  - name: r
    match: {paths: ["/api/*"]}
    upstream: u
`+routeExtra+`    policies:
      - name: proxy-rewrite
        config: `+policyConfig+"\n")
}

func TestProxyRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, route, config, target, want string
		fields                            []string
	}{
		{"regex with captures, query kept", "", `{regex_uri: ["^/api/v1/(\\w+)/(\\d+)$", "/v2/$1?id=$2&x="], host: backend.internal}`,
			"/api/v1/users/42?page=3", "GET /v2/users?id=42&x=&page=3 host=backend.internal", nil},
		{"regex without a match: unchanged", "", `{regex_uri: ["^/api/v1/(.*)", "/v2/$1"]}`,
			"/api/other?a=1", "GET /api/other?a=1 host=api.test", nil},
		{"named capture", "", `{regex_uri: ["^/api/(?P<rest>.*)$", "/${rest}/x"]}`,
			"/api/a/b", "GET /a/b/x host=api.test", nil},
		{"uri template and method", "", `{uri: "/users/{arg_id}", method: POST}`,
			"/api/anything?id=7", "POST /users/7?id=7 host=api.test", nil},
		{"the policy's target wins over strip_prefix, its host over the route's", "    strip_prefix: true\n    host: route.example\n", `{uri: "/fixed", host: mine.example}`,
			"/api/x", "GET /fixed host=mine.example", nil},
		{"https: an https request is proxied", "", `{redirect: {https: true}}`,
			"/api/x", "GET /api/x host=api.test", []string{"X-Forwarded-Proto: https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := rewriteGateway(t, tc.route, tc.config)
			resp, body := dial(t, g.addr).do("GET", tc.target, tc.fields...)
			if resp.StatusCode != 200 || body != tc.want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

func TestProxyRewriteRedirects(t *testing.T) {
	g := rewriteGateway(t, "", `{redirect: {https: true}}`)
	resp, _ := dial(t, g.addr).do("GET", "/api/x?y=1")
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://api.test/api/x?y=1" {
		t.Fatalf("http to https: %d %v", resp.StatusCode, resp.Header)
	}
	g = rewriteGateway(t, "", `{redirect: {to: "https://new.example{uri}", status: 308}}`)
	resp, _ = dial(t, g.addr).do("POST", "/api/x?y=1")
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "https://new.example/api/x?y=1" {
		t.Fatalf("redirect: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestProxyRewriteConfigErrors(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{}`, "config: changes nothing"},
		{`{uri: /a, regex_uri: ["a", "/b"]}`, "config.regex_uri: is exclusive with uri"},
		{`{regex_uri: ["(", "/b"]}`, "config.regex_uri[0]: not a regular expression"},
		{`{regex_uri: ["a"]}`, "config.regex_uri: must be [pattern, replacement]"},
		{`{regex_uri: ["a", "b"]}`, "config.regex_uri[1]: must start with /"},
		{`{uri: "x{path}"}`, "config.uri: must start with /"},
		{`{uri: "/{nosuch}"}`, "config.uri:"},
		{`{host: "a b"}`, `config.host: must be a host or host:port, got "a b"`},
		{`{method: "GE T"}`, "config.method: not a method"},
		{`{redirect: {}}`, "config.redirect.to: is required"},
		{`{redirect: {https: true, to: /x}}`, "config.redirect.to: is exclusive with https"},
		{`{redirect: {to: /x, status: 200}}`, "config.redirect.status: must be 301, 302, 303, 307 or 308"},
		// Text no request line or Location may hold: refused here, not a
		// 400 or 500 for every request.
		{`{redirect: {to: "https://a.example/\r\nSet-Cookie: a=1"}}`, `config.redirect.to: has bytes not allowed in a Location value`},
		{`{redirect: {to: "https://a.example{uri}\u0000"}}`, `config.redirect.to: has bytes not allowed`},
		{`{uri: "/a\r\nX-Injected: 1"}`, `config.uri: has a byte no request target may hold`},
		{`{uri: "/a b"}`, `config.uri: has a byte no request target may hold`},
		{`{uri: "/a#frag"}`, `config.uri: has a byte no request target may hold`},
		{`{regex_uri: ["a", "/b\nc"]}`, `config.regex_uri[1]: has a byte no request target may hold`},
	} {
		err := compileWithPolicy(t, "{name: proxy-rewrite, config: "+tc.config+"}")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.config, err, tc.want)
		}
	}
}
