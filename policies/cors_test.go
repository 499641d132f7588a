package policies_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/internal/freeport"
	"github.com/sluice-gw/sluice/policies"
)

func echoUpstream(t testing.TB) string {
	return startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("upstream " + r.Method))
	})
}

const corsList = `      - name: cors
        config:
          allow_origins: ["https://app.example.com", "https://*.example.org"]
          allow_methods: [GET, POST]
          allow_headers: [Content-Type, Authorization]
          expose_headers: [X-Total, X-Page]
          allow_credentials: true
          max_age: 10m
`

func TestCORSPreflightFromAllowedOrigin(t *testing.T) {
	g := startGateway(t, echoUpstream(t), routeYAML(corsList))
	r, body := dial(t, g.addr).do("OPTIONS", "/items",
		"Origin: https://app.example.com",
		"Access-Control-Request-Method: POST",
		"Access-Control-Request-Headers: content-type")
	want := map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example.com",
		"Access-Control-Allow-Methods":     "GET, POST",
		"Access-Control-Allow-Headers":     "Content-Type, Authorization",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "600",
		"Access-Control-Expose-Headers":    "",
	}
	if r.StatusCode != 204 || body != "" {
		t.Fatalf("preflight: %d %q, want a 204 from the gateway", r.StatusCode, body)
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if v := strings.Join(r.Header.Values("Vary"), ", "); !strings.Contains(v, "Origin") || !strings.Contains(v, "Access-Control-Request-Method") {
		t.Errorf("Vary = %q", v)
	}
}

func TestCORSPreflightReflectsWhatWasAsked(t *testing.T) {
	g := startGateway(t, echoUpstream(t), routeYAML(`      - name: cors
        config: { allow_origins: ["*"], allow_methods: ["*"] }
`))
	r, _ := dial(t, g.addr).do("OPTIONS", "/x",
		"Origin: https://any.site",
		"Access-Control-Request-Method: PATCH",
		"Access-Control-Request-Headers: x-a, x-b")
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" ||
		r.Header.Get("Access-Control-Allow-Methods") != "PATCH" || r.Header.Get("Access-Control-Allow-Headers") != "x-a, x-b" ||
		r.Header.Get("Access-Control-Allow-Credentials") != "" || r.Header.Get("Access-Control-Max-Age") != "" {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
}

func TestCORSActualRequestGetsFields(t *testing.T) {
	g := startGateway(t, echoUpstream(t), routeYAML(corsList))
	r, body := dial(t, g.addr).do("GET", "/items", "Origin: https://a.b.example.org")
	if r.StatusCode != 200 || body != "upstream GET" {
		t.Fatalf("GET: %d %q", r.StatusCode, body)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != "https://a.b.example.org" ||
		r.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		r.Header.Get("Access-Control-Expose-Headers") != "X-Total, X-Page" ||
		r.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("fields: %v", r.Header)
	}
	if v := r.Header.Values("Vary"); len(v) != 1 || v[0] != "Origin" {
		t.Errorf("Vary = %q, want Origin once", v)
	}
	// A plain OPTIONS (no Access-Control-Request-Method) is not a preflight: proxied.
	r, body = dial(t, g.addr).do("OPTIONS", "/items", "Origin: https://app.example.com")
	if body != "upstream OPTIONS" || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("plain OPTIONS: %d %q %v", r.StatusCode, body, r.Header)
	}
}

// TestCORSRefusesOrigins is the attack table: none of these origins may get
// an Access-Control-Allow-Origin, on a preflight or on a request.
func TestCORSRefusesOrigins(t *testing.T) {
	g := startGateway(t, echoUpstream(t), routeYAML(corsList))
	for _, origin := range []string{
		"https://evil.com",
		"null",
		"https://example.com.evil.com", // look-alike of an exact origin
		"https://app.example.com.evil.com",
		"https://example.org",           // the pattern needs a label before .example.org
		"https://.example.org",          // empty label
		"https://evil.com/.example.org", // a path is not a label
		"https://evil.com?.example.org",
		"https://user@x.example.org",
		"https://evil.com:1.example.org", // a port is not a label
		"https://a..example.org",
		"http://app.example.com",       // scheme differs
		"https://app.example.com:8443", // port differs
		"https://APP.EXAMPLE.COM",      // browsers send lower case
		"https://app.example.comx",
		"https://xexample.org",
	} {
		cl := dial(t, g.addr)
		r, _ := cl.do("OPTIONS", "/items", "Origin: "+origin, "Access-Control-Request-Method: POST")
		if r.StatusCode != 204 {
			t.Errorf("%s: preflight status %d, want a 204 without CORS fields", origin, r.StatusCode)
		}
		for k := range r.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: preflight got %s: %q", origin, k, r.Header.Get(k))
			}
		}
		r, _ = cl.do("GET", "/items", "Origin: "+origin)
		if r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: GET got %d %v", origin, r.StatusCode, r.Header)
		}
		if r.Header.Get("Vary") != "Origin" {
			t.Errorf("%s: Vary = %q, want Origin (the answer depends on it)", origin, r.Header.Get("Vary"))
		}
	}
}

// With "*" and credentials the origin is echoed, as browsers require, but
// never "null" nor something that is not an origin.
func TestCORSWildcardWithCredentialsEchoes(t *testing.T) {
	g := startGateway(t, echoUpstream(t), routeYAML(`      - name: cors
        config: { allow_origins: ["*"], allow_credentials: true }
`))
	cl := dial(t, g.addr)
	r, _ := cl.do("GET", "/", "Origin: https://site.test:8080")
	if r.Header.Get("Access-Control-Allow-Origin") != "https://site.test:8080" || r.Header.Get("Vary") != "Origin" ||
		r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("echo: %v", r.Header)
	}
	for _, bad := range []string{"null", "file://", "https://a b", "javascript:alert(1)", "https://x.test/path"} {
		r, _ = cl.do("GET", "/", "Origin: "+bad)
		if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("origin %q echoed as %q", bad, v)
		}
	}
	// Without credentials "*" is "*" for everyone, null included, and needs no Vary.
	g2 := startGateway(t, echoUpstream(t), routeYAML(`      - name: cors
        config: { allow_origins: ["*"] }
`))
	r, _ = dial(t, g2.addr).do("GET", "/", "Origin: null")
	if r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Vary") != "" {
		t.Fatalf("*: %v", r.Header)
	}
}

// The fields reach the gateway's own answers: a 502 (upstream down), a
// 429 (limit-count), a 404 made by a policy.
func TestCORSFieldsOnGatewayAnswers(t *testing.T) {
	yml := configHead + `shared_dicts: { limits: 1MiB }
routes:
  - match: { paths: ["/down"] }
    upstream: up
    policies:
` + corsList + `  - match: { paths: ["/limited"] }
    upstream: up
    policies:
` + corsList + `      - name: limit-count
        config: { count: 1, window: 1m, key: route }
  - match: { paths: ["/missing"] }
    policies:
` + corsList + `      - name: response
        config: { status: 404, body: "no such thing" }
`
	g := startGateway(t, freeport.Addr(t), yml)
	cl := dial(t, g.addr)
	origin := "Origin: https://app.example.com"
	check := func(what string, r *http.Response, status int) {
		t.Helper()
		if r.StatusCode != status || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			r.Header.Get("Access-Control-Allow-Credentials") != "true" || r.Header.Get("Access-Control-Expose-Headers") != "X-Total, X-Page" {
			t.Errorf("%s: %d %v", what, r.StatusCode, r.Header)
		}
	}
	r, _ := cl.do("GET", "/down", origin)
	check("502", r, 502)
	cl.do("GET", "/limited", origin) // the 502 of the first request counts
	r, _ = cl.do("GET", "/limited", origin)
	check("429", r, 429)
	r, body := cl.do("GET", "/missing", origin)
	check("404", r, 404)
	if body != "no such thing" {
		t.Errorf("404 body %q", body)
	}
	// Preflights are answered before the limit counts them.
	r, _ = cl.do("OPTIONS", "/limited", origin, "Access-Control-Request-Method: GET")
	if r.StatusCode != 204 {
		t.Errorf("preflight of a limited route: %d", r.StatusCode)
	}
}

// TestCORSMaxAgeWholeSeconds: max_age is sent in whole seconds; 500ms was
// sent as Access-Control-Max-Age: 0 (no caching), 1500ms as 1.
func TestCORSMaxAgeWholeSeconds(t *testing.T) {
	compile := func(maxAge string) error {
		return cacheCompileErr(`upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: cors, config: { allow_origins: ["*"], max_age: ` + maxAge + ` } } ]
`)
	}
	for _, bad := range []string{"500ms", "1500ms", "1s1ns"} {
		if err := compile(bad); err == nil || !strings.Contains(err.Error(), "config.max_age: must be a whole number of seconds") {
			t.Errorf("max_age %s: err %v", bad, err)
		}
	}
	for _, ok := range []string{"0s", "1s", "10m"} {
		if err := compile(ok); err != nil {
			t.Errorf("max_age %s: %v", ok, err)
		}
	}
}

// TestCORSVaryOriginOnce: a global cors and a route's cors both add their
// fields; Vary: Origin was sent twice.
func TestCORSVaryOriginOnce(t *testing.T) {
	g := enginetest.New(t, `upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
global_policies:
  - { name: cors, config: { allow_origins: ["https://a.example"] } }
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: cors, config: { allow_origins: ["https://a.example", "https://b.example"], allow_credentials: true } }
`, policies.Build, nil)
	for _, req := range []string{
		"GET /x HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nOrigin: https://c.example\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS /x HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example\r\nAccess-Control-Request-Method: PUT\r\n\r\n",
	} {
		resp := g.Do(req)
		resp.Body.Close()
		n := 0
		for _, v := range resp.Header.Values("Vary") {
			for _, tok := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(tok), "Origin") {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("%q: Vary %q names Origin %d times, want once", req, resp.Header.Values("Vary"), n)
		}
	}
}
