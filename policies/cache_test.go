package policies_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// Fast, in-process tests of the cache policy (enginetest: no sockets).
// cache_e2e_test.go runs real gateways for Redis, stampedes and streamed
// bodies.

// countingUpstream answers JSON with a body naming the request and counts
// the requests it saw; set decides the response per request.
type countingUpstream struct {
	n   atomic.Int64
	set func(w http.ResponseWriter, r *http.Request)
}

func (u *countingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := u.n.Add(1)
	w.Header().Set("Content-Type", "application/json")
	if u.set != nil {
		u.set(w, r)
		return
	}
	fmt.Fprintf(w, `{"n":%d,"uri":%q}`, n, r.URL.RequestURI())
}

func cacheYAML(cacheCfg, extra string) string {
	return `shared_dicts: { cache: 4MiB }
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - name: api
    match: { paths: ["/*"] }
    upstream: up
    policies:
` + extra + `      - name: cache
        config: ` + cacheCfg + "\n"
}

func cacheGateway(t testing.TB, cacheCfg string, up *countingUpstream) *enginetest.Gateway {
	t.Helper()
	return enginetest.New(t, cacheYAML(cacheCfg, ""), policies.Build, up)
}

func cacheGet(t *testing.T, g *enginetest.Gateway, method, target string, fields ...string) (*http.Response, string) {
	t.Helper()
	req := method + " " + target + " HTTP/1.1\r\nHost: a\r\n"
	for _, f := range fields {
		req += f + "\r\n"
	}
	resp := g.Do(req + "\r\n")
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func wantCache(t *testing.T, resp *http.Response, status string) {
	t.Helper()
	if got := resp.Header.Get("X-Cache-Status"); got != status {
		t.Fatalf("X-Cache-Status %q, want %q (status %d)", got, status, resp.StatusCode)
	}
}

func TestCacheMissThenHitL1(t *testing.T) {
	up := &countingUpstream{}
	g := cacheGateway(t, `{ ttl: 1m }`, up)
	before := policies.CacheStats("route:api/cache") // counters are kept by identity, across tests
	resp, body1 := cacheGet(t, g, "GET", "/a?x=1")
	wantCache(t, resp, "MISS")
	resp, body2 := cacheGet(t, g, "GET", "/a?x=1")
	wantCache(t, resp, "HIT")
	if resp.Header.Get("X-Cache-Level") != "L1" || resp.Header.Get("Age") == "" {
		t.Fatalf("hit fields: %v", resp.Header)
	}
	if body1 != body2 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("hit %q %v, stored %q", body2, resp.Header, body1)
	}
	if up.n.Load() != 1 {
		t.Fatalf("upstream saw %d requests, want 1", up.n.Load())
	}
	// Another query is another entry.
	resp, _ = cacheGet(t, g, "GET", "/a?x=2")
	wantCache(t, resp, "MISS")
	// HEAD is answered from the GET entry, without a body.
	resp, body := cacheGet(t, g, "HEAD", "/a?x=1")
	wantCache(t, resp, "HIT")
	if body != "" || up.n.Load() != 2 {
		t.Fatalf("HEAD hit: body %q, upstream %d", body, up.n.Load())
	}
	stats := policies.CacheStats("route:api/cache")
	if stats["hits_l1"]-before["hits_l1"] != 2 || stats["stores"]-before["stores"] != 2 {
		t.Fatalf("stats %v", stats)
	}
}

func TestCacheHeadMissIsNotStored(t *testing.T) {
	up := &countingUpstream{}
	g := cacheGateway(t, `{}`, up)
	resp, _ := cacheGet(t, g, "HEAD", "/h")
	wantCache(t, resp, "MISS")
	resp, body := cacheGet(t, g, "GET", "/h")
	wantCache(t, resp, "MISS")
	if body == "" {
		t.Fatal("the GET after a HEAD miss got an empty body (the HEAD response was stored)")
	}
	resp, _ = cacheGet(t, g, "GET", "/h")
	wantCache(t, resp, "HIT")
}

func TestCacheRespectsResponseRules(t *testing.T) {
	for _, tc := range []struct {
		name, cfg string
		set       func(w http.ResponseWriter)
		stored    bool
	}{
		{"no-store", `{}`, func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }, false},
		{"private", `{}`, func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "private, max-age=60") }, false},
		{"no-cache", `{}`, func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-cache") }, false},
		{"no-store ignored", `{ cache_control: false }`, func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }, true},
		{"max-age=0", `{}`, func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "max-age=0") }, false},
		{"public max-age", `{}`, func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "public, max-age=60") }, true},
		{"set-cookie", `{}`, func(w http.ResponseWriter) { w.Header().Set("Set-Cookie", "s=1") }, false},
		{"set-cookie allowed", `{ store_set_cookie: true }`, func(w http.ResponseWriter) { w.Header().Set("Set-Cookie", "s=1") }, true},
		{"vary", `{}`, func(w http.ResponseWriter) { w.Header().Set("Vary", "Accept-Language") }, false},
		{"vary covered", `{ vary: [Accept-Language] }`, func(w http.ResponseWriter) { w.Header().Set("Vary", "accept-language") }, true},
		{"vary star", `{ vary: [Accept-Language] }`, func(w http.ResponseWriter) { w.Header().Set("Vary", "*") }, false},
		{"text not json", `{}`, func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/plain") }, false},
		{"text allowed", `{ content_types: ["text/*"] }`, func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/plain; charset=utf-8") }, true},
		{"problem+json", `{}`, func(w http.ResponseWriter) { w.Header().Set("Content-Type", "application/problem+json") }, true},
		{"404 not cacheable", `{}`, func(w http.ResponseWriter) { w.WriteHeader(404) }, false},
		{"404 with status_ttl", `{ status_ttl: { "404": 10s } }`, func(w http.ResponseWriter) { w.WriteHeader(404) }, true},
		// The desc tag's promise: default statuses are [200] and those of
		// status_ttl; status_ttl alone used to stop 200s being stored.
		{"200 with status_ttl only", `{ status_ttl: { "404": 10s } }`, func(w http.ResponseWriter) {}, true},
		{"200 not in statuses", `{ statuses: [203], status_ttl: { "404": 10s } }`, func(w http.ResponseWriter) {}, false},
		{"404 in status_ttl beside statuses", `{ statuses: [203], status_ttl: { "404": 10s } }`, func(w http.ResponseWriter) { w.WriteHeader(404) }, true},
		{"structured suffix", `{ content_types: ["+xml"] }`, func(w http.ResponseWriter) { w.Header().Set("Content-Type", "application/atom+xml") }, true},
		{"any type", `{ content_types: ["text/html", "*/*"] }`, func(w http.ResponseWriter) { w.Header().Set("Content-Type", "image/png") }, true},
		{"json_object_only array", `{ json_object_only: true }`, func(w http.ResponseWriter) { w.Write([]byte("[1]")) }, false},
		{"json_object_only null", `{ json_object_only: true }`, func(w http.ResponseWriter) { w.Write([]byte("null")) }, false},
		{"json_object_only object", `{ json_object_only: true }`, func(w http.ResponseWriter) { w.Write([]byte(`{"a":1}`)) }, true},
		{"over max_body", `{ max_body: 10 }`, func(w http.ResponseWriter) { w.Write([]byte(`{"a":"0123456789"}`)) }, false},
		{"at max_body", `{ max_body: 18 }`, func(w http.ResponseWriter) { w.Write([]byte(`{"a":"0123456789"}`)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
				rec := &wroteRecorder{ResponseWriter: w}
				tc.set(rec)
				if !rec.wrote {
					w.Write([]byte(`{"ok":true}`))
				}
			}}
			g := cacheGateway(t, tc.cfg, up)
			resp, body1 := cacheGet(t, g, "GET", "/r")
			wantCache(t, resp, "MISS")
			resp, body2 := cacheGet(t, g, "GET", "/r")
			want := "MISS"
			if tc.stored {
				want = "HIT"
			}
			wantCache(t, resp, want)
			if body1 != body2 {
				t.Fatalf("bodies differ: %q then %q", body1, body2)
			}
			if tc.stored && resp.Header.Get("Set-Cookie") != "" {
				t.Fatal("a stored Set-Cookie was replayed")
			}
		})
	}
}

func TestCacheTTLExpiry(t *testing.T) {
	up := &countingUpstream{}
	g := cacheGateway(t, `{ ttl: 200ms }`, up)
	resp, _ := cacheGet(t, g, "GET", "/t")
	wantCache(t, resp, "MISS")
	resp, _ = cacheGet(t, g, "GET", "/t")
	wantCache(t, resp, "HIT")
	time.Sleep(400 * time.Millisecond)
	resp, _ = cacheGet(t, g, "GET", "/t")
	wantCache(t, resp, "MISS")
	if up.n.Load() != 2 {
		t.Fatalf("upstream %d, want 2", up.n.Load())
	}
}

func TestCacheMaxAgeSetsTTL(t *testing.T) {
	up := &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1, s-maxage=0")
		w.Write([]byte(`{}`))
	}}
	g := cacheGateway(t, `{ ttl: 1h }`, up)
	cacheGet(t, g, "GET", "/m")
	resp, _ := cacheGet(t, g, "GET", "/m")
	wantCache(t, resp, "MISS") // s-maxage=0 wins over max-age and ttl
}

func TestCacheStaleWhileRevalidateAndIfError(t *testing.T) {
	fail := atomic.Bool{}
	up := &countingUpstream{}
	up.set = func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(503)
			return
		}
		fmt.Fprintf(w, `{"n":%d}`, up.n.Load())
	}
	g := cacheGateway(t, `{ ttl: 200ms, stale_if_error: 10s }`, up)
	_, body := cacheGet(t, g, "GET", "/s")
	time.Sleep(300 * time.Millisecond)
	fail.Store(true)
	resp, stale := cacheGet(t, g, "GET", "/s")
	wantCache(t, resp, "STALE")
	if resp.StatusCode != 200 || stale != body {
		t.Fatalf("stale_if_error: %d %q, want 200 %q", resp.StatusCode, stale, body)
	}
	fail.Store(false)
	resp, _ = cacheGet(t, g, "GET", "/s")
	wantCache(t, resp, "EXPIRED")
	resp, _ = cacheGet(t, g, "GET", "/s")
	wantCache(t, resp, "HIT")
}

func TestCacheBypass(t *testing.T) {
	up := &countingUpstream{}
	g := cacheGateway(t, `{ bypass: [http_x_no_cache, arg_refresh, cookie_nocache] }`, up)
	cacheGet(t, g, "GET", "/b")
	for _, tc := range []struct {
		target string
		fields []string
		want   string
	}{
		{"/b", nil, "HIT"},
		{"/b", []string{"X-No-Cache: 1"}, "BYPASS"},
		{"/b", []string{"X-No-Cache: 0"}, "HIT"},
		{"/b", []string{"Cookie: a=b; nocache=yes"}, "BYPASS"},
	} {
		resp, _ := cacheGet(t, g, "GET", tc.target, tc.fields...)
		wantCache(t, resp, tc.want)
	}
	// A bypass refreshes the entry.
	n := up.n.Load()
	cacheGet(t, g, "GET", "/b", "X-No-Cache: yes")
	_, body := cacheGet(t, g, "GET", "/b")
	if !strings.Contains(body, fmt.Sprintf(`"n":%d`, n+1)) {
		t.Fatalf("the bypass did not refresh the entry: %q", body)
	}
}

func TestCacheMethods(t *testing.T) {
	up := &countingUpstream{}
	g := cacheGateway(t, `{}`, up)
	resp := g.Do("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
	if resp.Header.Get("X-Cache-Status") != "" {
		t.Fatal("POST went through the cache without methods: [POST]")
	}
	resp = g.Do("DELETE /p HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.Header.Get("X-Cache-Status") != "" {
		t.Fatal("DELETE went through the cache")
	}
}

func TestCachePurge(t *testing.T) {
	up := &countingUpstream{}
	g := cacheGateway(t, `{ purge: true }`, up)
	cacheGet(t, g, "GET", "/x?a=1")
	resp, _ := cacheGet(t, g, "PURGE", "/x?a=1")
	if resp.StatusCode != 200 {
		t.Fatalf("purge: %d", resp.StatusCode)
	}
	resp, _ = cacheGet(t, g, "GET", "/x?a=1")
	wantCache(t, resp, "MISS")
	resp, _ = cacheGet(t, g, "PURGE", "/x?a=2")
	if resp.StatusCode != 404 {
		t.Fatalf("purge of nothing: %d", resp.StatusCode)
	}
}

// The seed's setup: declared parameters, the key from them, POST allowed,
// undeclared parameters neither forwarded nor in the key.
func TestCacheKeyFromDeclaredParams(t *testing.T) {
	up := &countingUpstream{}
	g := enginetest.New(t, cacheYAML(`{ key: "{{name}}_{{age}}", methods: [GET, POST] }`, `      - name: params
        config:
          params:
            - { name: name }
            - { name: age, type: number, max: 3 }
            - { name: name, in: body }
            - { name: age, in: body, type: number, max: 3 }
`), policies.Build, up)
	resp, body := cacheGet(t, g, "GET", "/q?name=bo&age=3&type=x")
	wantCache(t, resp, "MISS")
	if strings.Contains(body, "type") {
		t.Fatalf("undeclared parameter forwarded: %s", body)
	}
	resp, _ = cacheGet(t, g, "GET", "/q?age=3&type=y&name=bo")
	wantCache(t, resp, "HIT")
	resp = g.Do("POST /q HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n\r\nname=bo&age=3&z")
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST: %d %s", resp.StatusCode, b)
	}
	wantCache(t, resp, "MISS") // POST is its own class
	resp = g.Do("POST /q HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{\"age\":3,\"name\":\"bo\"}   ")
	wantCache(t, resp, "HIT")
	resp, _ = cacheGet(t, g, "GET", "/q?name=bo&age=4")
	if resp.StatusCode != 400 {
		t.Fatalf("a refused request: %d", resp.StatusCode)
	}
}

func TestCachePerConsumerDefaultKey(t *testing.T) {
	up := &countingUpstream{}
	g := enginetest.New(t, cacheYAML(`{}`, "      - { name: limit-test-consumer }\n"), policies.Build, up)
	cacheGet(t, g, "GET", "/c", "X-Consumer: alice")
	resp, _ := cacheGet(t, g, "GET", "/c", "X-Consumer: bob")
	wantCache(t, resp, "MISS")
	resp, _ = cacheGet(t, g, "GET", "/c", "X-Consumer: alice")
	wantCache(t, resp, "HIT")
}

func TestCacheConfigErrors(t *testing.T) {
	for _, tc := range []struct{ cfg, extra, want string }{
		{`{ dict: nope }`, "", `shared dict "nope"`},
		{`{ l2: redis }`, "", "top-level redis"},
		{`{ methods: [POST], key: "{arg_a}" }`, "", "POST is cacheable only"},
		{`{ methods: [PUT] }`, "", "must be GET, HEAD or POST"},
		{`{ key: "static" }`, "", "has no variable"},
		{`{ status_ttl: { "abc": 1s } }`, "", "must be a status"},
		{`{ bypass: [nonsense] }`, "", "unknown variable"},
		{`{ vary: ["bad name"] }`, "", "not a field name"},
		{`{ lock_scope: fleet }`, "", "lock_scope: fleet needs l2: redis"},
		{`{ lock_scope: cluster }`, "", "lock_scope"},
		{`{ lock_poll: 10ms }`, "", "lock_poll: is for lock_scope: fleet"},
		{`{ statuses: [200, 206] }`, "", "statuses[1]: 206 Partial Content answers one Range request"},
		{`{ status_ttl: { "206": 10s } }`, "", "status_ttl.206: 206 Partial Content"},
		{`{ statuses: [304] }`, "", "statuses[0]: 304 Not Modified has no content"},
		{`{ status_ttl: { "304": 10s } }`, "", "status_ttl.304: 304 Not Modified"},
		{`{ statuses: [101] }`, "", "statuses[0]: must be a final status, 200..599, got 101"},
		{`{ status_ttl: { "100": 10s } }`, "", "status_ttl.100: must be a status, 200..599"},
		// An empty entry validated, then made every response a 500 (the
		// matcher read a[0]); a word without a slash matched nothing.
		{`{ content_types: [""] }`, "", `content_types[0]: must be type/subtype (application/json), type/* (image/*), a structured suffix (+json) or * for any, without parameters; got ""`},
		{`{ content_types: [application/json, bogus] }`, "", `content_types[1]: must be type/subtype`},
		{`{ content_types: ["  "] }`, "", `content_types[0]: must be type/subtype`},
		{`{ content_types: ["application/json; charset=utf-8"] }`, "", `content_types[0]: must be type/subtype`},
		{`{ content_types: ["*/json"] }`, "", `content_types[0]: must be type/subtype`},
		{`{ content_types: ["text/"] }`, "", `content_types[0]: must be type/subtype`},
		{`{ content_types: ["/json"] }`, "", `content_types[0]: must be type/subtype`},
		{`{ content_types: ["a/b/c"] }`, "", `content_types[0]: must be type/subtype`},
		{`{ content_types: ["+"] }`, "", `content_types[0]: a structured suffix is + and a name`},
		{`{ content_types: ["+json+xml"] }`, "", `content_types[0]: a structured suffix is + and a name`},
		{`{ content_types: ["*", ""] }`, "", `content_types[1]: must be type/subtype`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			err := cacheCompileErr(cacheYAML(tc.cfg, tc.extra))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// cacheCompileErr compiles a config and returns why it was refused.
func cacheCompileErr(yml string) error {
	cfg, err := config.Parse([]byte(yml), "t.yaml")
	if err != nil {
		return err
	}
	c := engine.NewCompiler(policies.Build)
	defer c.Close()
	_, err = c.Compile(cfg)
	return err
}

// wroteRecorder notes whether a handler wrote a body.
type wroteRecorder struct {
	http.ResponseWriter
	wrote bool
}

func (w *wroteRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func TestCachePurgeFromTheControlPlane(t *testing.T) {
	up := &countingUpstream{}
	g := cacheGateway(t, `{}`, up)
	for _, target := range []string{"/a?x=1", "/a?x=2", "/b"} {
		cacheGet(t, g, "GET", target)
	}
	l1, l2, err := policies.PurgeCache(context.Background(), "route:api/cache", "a/a?", true)
	if err != nil || l1 != 2 || l2 != 0 {
		t.Fatalf("purge by prefix: %d %d %v", l1, l2, err)
	}
	resp, _ := cacheGet(t, g, "GET", "/a?x=1")
	wantCache(t, resp, "MISS")
	resp, _ = cacheGet(t, g, "GET", "/b")
	wantCache(t, resp, "HIT")
	if l1, _, _ := policies.PurgeCache(context.Background(), "route:api/cache", "a/b?", false); l1 != 1 {
		t.Fatalf("purge by key: %d", l1)
	}
	resp, _ = cacheGet(t, g, "GET", "/b")
	wantCache(t, resp, "MISS")
	if l1, _, _ := policies.PurgeCache(context.Background(), "route:api/cache", "", false); l1 != 2 {
		t.Fatalf("purge all: %d", l1)
	}
	if _, _, err := policies.PurgeCache(context.Background(), "route:nope/cache", "", false); err != policies.ErrNoSuchCache {
		t.Fatalf("unknown identity: %v", err)
	}
}

// RFC 9111 §3.5: an answer to a request with Authorization (checked by the
// backend, no consumer at the gateway) is stored only when the response
// allows a shared cache to.
func TestCacheAuthorizedRequests(t *testing.T) {
	for _, tc := range []struct {
		cc     string
		stored bool
	}{{"", false}, {"max-age=60", false}, {"public", true}, {"s-maxage=60", true}, {"must-revalidate", true}} {
		t.Run("cache-control="+tc.cc, func(t *testing.T) {
			up := &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
				if tc.cc != "" {
					w.Header().Set("Cache-Control", tc.cc)
				}
				w.Write([]byte(`{}`))
			}}
			g := cacheGateway(t, `{}`, up)
			cacheGet(t, g, "GET", "/me", "Authorization: Bearer alice")
			resp, _ := cacheGet(t, g, "GET", "/me", "Authorization: Bearer alice")
			want := "MISS"
			if tc.stored {
				want = "HIT"
			}
			wantCache(t, resp, want)
		})
	}
}

// RFC 9111 §4.2.3: the upstream's Age is part of the response's age. It
// counts against the freshness lifetime (Age: 59 with max-age=60 is fresh
// for one second; Age ≥ the lifetime is not stored), and a hit's Age is
// the upstream's plus the time in cache.
func TestCacheUpstreamAgeCounts(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, cc, age string
		stored             bool
		freshFor           time.Duration // 0: the test does not wait
	}{
		{"Age 50 of max-age=60", `{}`, "max-age=60", "50", true, 0},
		{"Age 59 of max-age=60", `{}`, "max-age=60", "59", true, time.Second},
		{"Age 60 of max-age=60", `{}`, "max-age=60", "60", false, 0},
		{"Age 61 of ttl 60s", `{ ttl: 60s }`, "", "61", false, 0},
		{"Age 59 of ttl 60s", `{ ttl: 60s }`, "", "59", true, time.Second},
		{"Age past 2^31 s", `{}`, "s-maxage=99999999999", "99999999999", false, 0},
		{"list-valued Age: the first", `{}`, "max-age=60", "60, 1", false, 0},
		{"invalid Age is ignored", `{}`, "max-age=60", "-5", true, 0},
		{"cache_control: false: ttl counts from the store", `{ cache_control: false, ttl: 60s }`, "max-age=10", "50", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := cacheGateway(t, tc.cfg, fieldsUpstream(map[string]string{"Cache-Control": tc.cc, "Age": tc.age}))
			resp := storedOrNot(t, g, "/a", tc.stored)
			if !tc.stored {
				return
			}
			upstream, _ := strconv.ParseInt(strings.TrimSpace(strings.Split(tc.age, ",")[0]), 10, 64)
			if age, err := strconv.ParseInt(resp.Header.Get("Age"), 10, 64); err != nil || age < max(upstream, 0) || age > max(upstream, 0)+2 {
				t.Fatalf("Age %q on a hit of a response that came with Age %q", resp.Header.Get("Age"), tc.age)
			}
			if tc.freshFor > 0 {
				time.Sleep(tc.freshFor + 300*time.Millisecond)
				resp, _ = cacheGet(t, g, "GET", "/a")
				wantCache(t, resp, "MISS")
			}
		})
	}
}

// RFC 9111 §4.2.1: without s-maxage or max-age, Expires less Date (or
// less the time the response arrived, without Date) is the freshness
// lifetime, before the config's ttl; an invalid Expires is already
// expired; max-age overrides Expires (§5.3).
func TestCacheExpires(t *testing.T) {
	now := time.Now().UTC()
	httpDate := func(t time.Time) string { return t.Format(http.TimeFormat) }
	for _, tc := range []struct {
		name, cfg, cc, expires, date string
		stored                       bool
		freshFor                     time.Duration // 0: the test does not wait
	}{
		{"in 2s, no Date", `{ ttl: 1h }`, "", httpDate(now.Add(2 * time.Second)), "", true, 2 * time.Second},
		{"an hour after Date, Date an hour ago", `{ ttl: 1s }`, "", httpDate(now), httpDate(now.Add(-time.Hour)), true, 0},
		{"before Date", `{ ttl: 1h }`, "", httpDate(now.Add(time.Hour)), httpDate(now.Add(2 * time.Hour)), false, 0},
		{"in the past", `{ ttl: 1h }`, "", "Thu, 01 Jan 1970 00:00:00 GMT", "", false, 0},
		{"0 is invalid: expired", `{ ttl: 1h }`, "", "0", "", false, 0},
		{"another format is invalid", `{ ttl: 1h }`, "", now.Add(time.Hour).Format(time.RFC3339), "", false, 0},
		{"an invalid Date is the arrival", `{ ttl: 1s }`, "", httpDate(now.Add(time.Hour)), "yesterday", true, 0},
		{"rfc850-date", `{ ttl: 1s }`, "", now.Add(time.Hour).Format("Monday, 02-Jan-06 15:04:05 GMT"), "", true, 0},
		{"asctime", `{ ttl: 1s }`, "", now.Add(time.Hour).Format(time.ANSIC), "", true, 0},
		{"max-age overrides it", `{ ttl: 1s }`, "max-age=60", "0", "", true, 0},
		{"s-maxage overrides it", `{ ttl: 1s }`, "s-maxage=60", "Thu, 01 Jan 1970 00:00:00 GMT", "", true, 0},
		{"an invalid max-age does not", `{ ttl: 1h }`, "max-age=soon", "0", "", false, 0},
		{"cache_control: false ignores it", `{ cache_control: false, ttl: 1h }`, "", "0", "", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := cacheGateway(t, tc.cfg, fieldsUpstream(map[string]string{"Cache-Control": tc.cc, "Expires": tc.expires, "Date": tc.date}))
			storedOrNot(t, g, "/e", tc.stored)
			if !tc.stored {
				return
			}
			if tc.freshFor > 0 {
				time.Sleep(tc.freshFor + 1200*time.Millisecond) // Expires has whole seconds
				resp, _ := cacheGet(t, g, "GET", "/e")
				wantCache(t, resp, "MISS")
			} else if strings.HasPrefix(tc.name, "an hour after Date") {
				time.Sleep(1200 * time.Millisecond) // past the config's ttl: Expires rules, Date is not now
				resp, _ := cacheGet(t, g, "GET", "/e")
				wantCache(t, resp, "HIT")
			}
		})
	}
}

// fieldsUpstream answers {} with the given response fields; a field whose
// value is "" is left out (Date too, which net/http adds by itself).
func fieldsUpstream(fields map[string]string) *countingUpstream {
	return &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
		for name, v := range fields {
			if v != "" {
				w.Header().Set(name, v)
			} else {
				w.Header()[name] = nil
			}
		}
		w.Write([]byte(`{}`))
	}}
}

// storedOrNot asks for target twice and checks that the second answer is
// a HIT when the first was stored, else a MISS; it returns the second.
func storedOrNot(t *testing.T, g *enginetest.Gateway, target string, stored bool) *http.Response {
	t.Helper()
	cacheGet(t, g, "GET", target)
	resp, _ := cacheGet(t, g, "GET", target)
	want := "MISS"
	if stored {
		want = "HIT"
	}
	wantCache(t, resp, want)
	return resp
}

// A 206 answers one Range request: it is never stored (the statuses that
// could store it are refused, TestCacheConfigErrors), so a Range request
// that misses leaves no fragment for the next client; one that hits is
// answered the whole 200, which RFC 9110 §14.2 allows (a server may ignore
// Range), with its own length and no Content-Range.
func TestCacheRangeRequests(t *testing.T) {
	const whole = `{"content":"0123456789"}`
	up := &countingUpstream{set: func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "r.json", time.Time{}, strings.NewReader(whole))
	}}
	g := cacheGateway(t, `{}`, up)
	resp, body := cacheGet(t, g, "GET", "/r", "Range: bytes=0-3")
	wantCache(t, resp, "MISS")
	if resp.StatusCode != 206 || body != whole[:4] {
		t.Fatalf("a Range miss: %d %q, want the upstream's 206 %q", resp.StatusCode, body, whole[:4])
	}
	resp, body = cacheGet(t, g, "GET", "/r")
	wantCache(t, resp, "MISS")
	if resp.StatusCode != 200 || body != whole {
		t.Fatalf("after a Range miss: %d %q, want 200 %q", resp.StatusCode, body, whole)
	}
	resp, body = cacheGet(t, g, "GET", "/r", "Range: bytes=2-5")
	wantCache(t, resp, "HIT")
	if resp.StatusCode != 200 || body != whole || resp.ContentLength != int64(len(whole)) || resp.Header.Get("Content-Range") != "" {
		t.Fatalf("a Range hit: %d %q (length %d, Content-Range %q), want the whole 200", resp.StatusCode, body, resp.ContentLength, resp.Header.Get("Content-Range"))
	}
	if up.n.Load() != 2 {
		t.Fatalf("upstream saw %d requests, want 2", up.n.Load())
	}
}
