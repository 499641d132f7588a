package admin_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/policies"
)

// policyYAML's routes are named like manyRoutes' first routes: route
// series are the process's, and a test that ran before may have reached
// the route cap, past which a new name would be counted as "(overflow)".
const policyYAML = `listen: "{listen}"
workers: 2
shared_dicts: { limits: 1m, cache: 1m }
admin: { metrics_consumer_label: true }
upstreams:
  - name: backend
    targets: [ { addr: "{upstream}" } ]
consumers:
  - name: alice
    credentials:
      key_auth: [ { key: "alice-key-0123456789" } ]
  - name: bob
    credentials:
      key_auth: [ { key: "bob-key-0123456789ab" } ]
global_policies:
  - name: limit-count
    id: global-limit
    config: { limits: [ { count: 1000000, window: 1h } ] }
routes:
  - name: route-0
    match: { paths: ["/api/*"] }
    upstream: backend
    policies:
      - name: key-auth
      - name: limit-count
        config: { limits: [ { count: 3, window: 1h } ], key: consumer }
  - name: route-1
    match: { paths: ["/cached/*"] }
    upstream: backend
    policies:
      - name: cache
        config: { ttl: 1h, content_types: ["*"] }
`

// TestPolicyMetricsAfterTraffic sends requests through key-auth,
// limit-count (a route's and a global one) and cache, and checks the
// policies' families, the requests by consumer and the connections by
// state in a scrape parsed by Prometheus' parser, then runs promtool on it.
func TestPolicyMetricsAfterTraffic(t *testing.T) {
	srv, addr := startEngineWith(t, policyYAML, policies.Build)
	_, adminAddr := startAdmin(t, admin.Options{Engine: srv})
	send := func(path, key string) int {
		return sendGet(t, addr, path, func(r *http.Request) {
			if key != "" {
				r.Header.Set("apikey", key)
			}
		})
	}
	const alice, bob = "alice-key-0123456789", "bob-key-0123456789ab"
	statuses := map[int]int{}
	for range 5 { // the limit of 3 per consumer: 3 pass, 2 refused
		statuses[send("/api/x", alice)]++
	}
	statuses[send("/api/x", bob)]++
	for range 2 {
		statuses[send("/api/x", "")]++
	}
	statuses[send("/api/x", "wrong-key-0123456789")]++
	for range 4 { // one miss, three hits
		statuses[send("/cached/x", "")]++
	}
	if statuses[200] != 3+1+4 || statuses[429] != 2 || statuses[401] != 3 {
		t.Fatalf("statuses %v", statuses)
	}
	const total = 13

	scrape, fams := scrapeCounted(t, adminAddr, total)

	const api, cached = "route-0", "route-1"
	const keyAuth, routeLimit, globalLimit, cache = "route:" + api + "/key-auth", "route:" + api + "/limit-count", "global/global-limit", "route:" + cached + "/cache"
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_auth_total", []string{"route", api, "policy", keyAuth, "result", "ok"}, 6},
		{"sluice_auth_total", []string{"route", api, "policy", keyAuth, "result", "missing"}, 2},
		{"sluice_auth_total", []string{"route", api, "policy", keyAuth, "result", "invalid"}, 1},
		{"sluice_limit_requests_total", []string{"route", api, "policy", routeLimit, "result", "allowed"}, 4},
		{"sluice_limit_requests_total", []string{"route", api, "policy", routeLimit, "result", "rejected"}, 2},
		// The global limit runs on every route, counted by the request's
		// route; on /api only after key-auth let the request through.
		{"sluice_limit_requests_total", []string{"route", api, "policy", globalLimit, "result", "allowed"}, 6},
		{"sluice_limit_requests_total", []string{"route", cached, "policy", globalLimit, "result", "allowed"}, 4},
		{"sluice_cache_lookups_total", []string{"route", cached, "policy", cache, "result", "miss"}, 1},
		{"sluice_cache_lookups_total", []string{"route", cached, "policy", cache, "result", "hit_l1"}, 3},
		{"sluice_cache_stores_total", []string{"route", cached, "policy", cache, "result", "stored"}, 1},
		{"sluice_consumer_requests_total", []string{"consumer", "alice", "code", "200"}, 3},
		{"sluice_consumer_requests_total", []string{"consumer", "alice", "code", "429"}, 2},
		{"sluice_consumer_requests_total", []string{"consumer", "bob", "code", "200"}, 1},
		{"sluice_consumer_requests_total", []string{"consumer", "(none)", "code", "401"}, 3},
		{"sluice_consumer_requests_total", []string{"consumer", "(none)", "code", "200"}, 4},
		{"sluice_metrics_series_overflow_total", []string{"vector", "policy"}, 0},
		{"sluice_metrics_dropped_writes_total", nil, 0},
	}
	for _, c := range checks {
		got, found := metricValue(fams, c.name, c.labels...)
		if !found || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, found, c.want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", scrape)
	}
	// Series that counted nothing are left out.
	if _, found := metricValue(fams, "sluice_auth_total", "result", "anonymous"); found {
		t.Errorf("sluice_auth_total{result=anonymous} exposed without a count")
	}
	// Every request ended: no connection is in a request state, and the
	// client's keep-alive connections are idle.
	for _, state := range []string{"reading", "policy", "upstream", "writing"} {
		if got, found := metricValue(fams, "sluice_client_connections_by_state", "state", state); !found || got != 0 {
			t.Errorf("connections %s = %v (found %v), want 0", state, got, found)
		}
	}
	open, _ := metricValue(fams, "sluice_client_connections")
	if idle, found := metricValue(fams, "sluice_client_connections_by_state", "state", "idle"); !found || idle != open {
		t.Errorf("idle connections = %v (found %v), want the %v open ones", idle, found, open)
	}
	for _, name := range []string{"sluice_auth_total", "sluice_limit_requests_total", "sluice_cache_lookups_total", "sluice_consumer_requests_total", "sluice_client_connections_by_state"} {
		if f := fams[name]; f == nil || f.GetHelp() == "" {
			t.Errorf("%s: no family or no help", name)
		}
	}
	promtool(t, scrape)
}

// TestConsumerLabelOff checks that requests are not counted by consumer
// unless admin.metrics_consumer_label says so.
func TestConsumerLabelOff(t *testing.T) {
	srv, addr := startEngineWith(t, trafficYAML, policies.Build)
	_, adminAddr := startAdmin(t, admin.Options{Engine: srv, NoRuntimeMetrics: true})
	sendGet(t, addr, "/api/x", nil)
	if _, fams := scrapeCounted(t, adminAddr, 1); fams["sluice_consumer_requests_total"] != nil {
		t.Fatalf("requests counted by consumer with the switch off: %v", fams["sluice_consumer_requests_total"])
	}
}

// TestAuthAndLimitFamilies covers the other auth and limit policies:
// basic-auth, jwt-auth with an anonymous consumer, limit-req and
// limit-conn, counted on one route each, in a scrape parsed by
// Prometheus' parser.
func TestAuthAndLimitFamilies(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "0123456789abcdef0123456789abcdef-hs256-secret"
	yml := `listen: "{listen}"
workers: 2
shared_dicts: { limits: 1m }
upstreams:
  - name: backend
    targets: [ { addr: "{upstream}" } ]
consumers:
  - name: alice
    credentials:
      basic_auth: [ { username: alice, password_hash: "` + string(hash) + `" } ]
      jwt: [ { key: alice-hs, secret: "` + secret + `" } ]
  - name: guest
routes:
  - name: route-2
    match: { paths: ["/basic/*"] }
    upstream: backend
    policies:
      - name: basic-auth
      - name: limit-req
        config: { rate: 1r/m, burst: 1, nodelay: true, key: consumer, key_missing: skip }
  - name: route-3
    match: { paths: ["/jwt/*"] }
    upstream: backend
    policies:
      - name: jwt-auth
        config: { anonymous: guest }
      - name: limit-conn
        config: { max: 100 }
`
	srv, addr := startEngineWith(t, yml, policies.Build)
	_, adminAddr := startAdmin(t, admin.Options{Engine: srv, NoRuntimeMetrics: true})
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "alice-hs", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	send := func(path string, set func(*http.Request)) int { return sendGet(t, addr, path, set) }
	basic := func(pw string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth("alice", pw) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	got := []int{
		send("/basic/x", basic("alice-password")), // ok, limit allowed
		send("/basic/x", basic("alice-password")), // ok, limit allowed
		send("/basic/x", basic("alice-password")), // ok, limit rejected: 429
		send("/basic/x", basic("wrong")),          // invalid
		send("/basic/x", nil),                     // missing
		send("/jwt/x", bearer(token)),             // ok
		send("/jwt/x", nil),                       // anonymous
		send("/jwt/x", bearer(token+"x")),         // invalid
	}
	want := []int{200, 200, 429, 401, 401, 200, 200, 401}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	_, fams := scrapeCounted(t, adminAddr, uint64(len(want)))
	const b, j = "route-2", "route-3"
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_auth_total", []string{"route", b, "policy", "route:" + b + "/basic-auth", "result", "ok"}, 3},
		{"sluice_auth_total", []string{"route", b, "policy", "route:" + b + "/basic-auth", "result", "invalid"}, 1},
		{"sluice_auth_total", []string{"route", b, "policy", "route:" + b + "/basic-auth", "result", "missing"}, 1},
		{"sluice_auth_total", []string{"route", j, "policy", "route:" + j + "/jwt-auth", "result", "ok"}, 1},
		{"sluice_auth_total", []string{"route", j, "policy", "route:" + j + "/jwt-auth", "result", "anonymous"}, 1},
		{"sluice_auth_total", []string{"route", j, "policy", "route:" + j + "/jwt-auth", "result", "invalid"}, 1},
		{"sluice_limit_requests_total", []string{"route", b, "policy", "route:" + b + "/limit-req", "result", "allowed"}, 2},
		{"sluice_limit_requests_total", []string{"route", b, "policy", "route:" + b + "/limit-req", "result", "rejected"}, 1},
		{"sluice_limit_requests_total", []string{"route", j, "policy", "route:" + j + "/limit-conn", "result", "allowed"}, 2},
	} {
		if got, found := metricValue(fams, c.name, c.labels...); !found || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, found, c.want)
		}
	}
}

// sendGet sends GET path to the gateway at addr, with set (nil: none)
// editing the request, and returns the status.
func sendGet(t *testing.T, addr, path string, set func(*http.Request)) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// scrapeCounted scrapes until the gateway has counted n finished requests
// (a request is counted after its response was queued) and returns the
// scrape, parsed too.
func scrapeCounted(t *testing.T, adminAddr string, n uint64) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		scrape := get(t, "http://"+adminAddr+"/metrics")
		fams := parseMetrics(t, scrape)
		if h := fams["sluice_request_duration_seconds"]; h != nil && h.GetMetric()[0].GetHistogram().GetSampleCount() == n {
			return scrape, fams
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not count %d requests:\n%s", n, scrape)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
