package policies_test

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// tieredYAML: the route allows 2 requests a minute per consumer; gold's own
// limit-count (same identity: it has no id, so its name) replaces it with
// 5, and a headers policy of gold's marks its requests. Two routes share
// gold's limit: a consumer's policy is one instance on every route.
const tieredYAML = `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
shared_dicts: { limits: 1m }
routes:
  - name: a
    match: { paths: ["/a"] }
    upstream: up
    policies:
      - name: key-auth
      - name: limit-count
        config: { count: 2, window: 60s, key: consumer, dict: limits }
  - name: b
    match: { paths: ["/b"] }
    upstream: up
    policies:
      - name: key-auth
      - name: limit-count
        config: { count: 2, window: 60s, key: consumer, dict: limits }
consumers:
  - name: gold
    credentials: { key_auth: [ { key: "gold-key-0123456789ab" } ] }
    policies:
      - name: limit-count
        config: { count: 5, window: 60s, key: consumer, dict: limits }
      - name: headers
        config: { request: { set: { X-Tier: gold } }, response: { set: { X-Tier: gold } } }
  - name: free
    credentials: { key_auth: [ { key: "free-key-0123456789ab" } ] }
`

func TestConsumerLimitReplacesTheRouteLimit(t *testing.T) {
	g := enginetest.New(t, tieredYAML, policies.Build, authEchoUpstream())
	admitted := func(path, key string, n int) (ok int, last string) {
		for i := 0; i < n; i++ {
			resp, up, body := get(t, g, path, "apikey: "+key)
			switch resp.StatusCode {
			case 200:
				ok++
				if up == nil {
					t.Fatalf("200 without the upstream: %s", body)
				}
			case 429:
			default:
				t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
			}
			last = resp.Header.Get("X-RateLimit-Limit")
		}
		return ok, last
	}
	if ok, limit := admitted("/a", "free-key-0123456789ab", 4); ok != 2 || limit != "2" {
		t.Fatalf("free on /a: %d admitted, X-RateLimit-Limit %q; want the route's 2", ok, limit)
	}
	// gold: 3 on /a then 3 on /b share its one counter of 5.
	okA, limit := admitted("/a", "gold-key-0123456789ab", 3)
	okB, _ := admitted("/b", "gold-key-0123456789ab", 3)
	if okA+okB != 5 || limit != "5" {
		t.Fatalf("gold: %d+%d admitted, X-RateLimit-Limit %q; want its own 5 across both routes", okA, okB, limit)
	}
	// free's count on /b is the route's own, apart from /a's.
	if ok, _ := admitted("/b", "free-key-0123456789ab", 3); ok != 2 {
		t.Fatalf("free on /b: %d admitted, want 2", ok)
	}
}

func TestConsumerPoliciesEditRequestAndResponse(t *testing.T) {
	g := enginetest.New(t, tieredYAML, policies.Build, authEchoUpstream())
	resp, up, body := get(t, g, "/a", "apikey: gold-key-0123456789ab")
	expectStatus(t, resp, body, 200)
	if up.Header.Get("X-Tier") != "gold" || resp.Header.Get("X-Tier") != "gold" {
		t.Fatalf("gold's headers policy did not run: upstream %v, response %v", up.Header, resp.Header)
	}
	resp, up, body = get(t, g, "/a", "apikey: free-key-0123456789ab")
	expectStatus(t, resp, body, 200)
	if up.Header.Get("X-Tier") != "" || resp.Header.Get("X-Tier") != "" {
		t.Fatalf("gold's policy ran for free: upstream %v, response %v", up.Header, resp.Header)
	}
	// A 401 never reaches a consumer's policies.
	resp, _, body = get(t, g, "/a", "apikey: wrong-key-0123456789ab")
	expectStatus(t, resp, body, 401)
	if resp.Header.Get("X-Tier") != "" {
		t.Fatalf("a refused request ran gold's policy: %v", resp.Header)
	}
}

// basic-auth names the consumer in a closure resumed after bcrypt ran off
// the loop: the consumer's policies join there as well.
func TestConsumerPoliciesJoinAfterAnOffloadedAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("gold-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	g := enginetest.New(t, `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies: [ { name: basic-auth } ]
consumers:
  - name: gold
    credentials: { basic_auth: [ { username: gold, password_hash: "`+string(hash)+`" } ] }
    policies:
      - name: headers
        config: { request: { set: { X-Tier: gold } } }
`, policies.Build, authEchoUpstream())
	for i := 0; i < 2; i++ { // the second is the verified-credential cache's hit, on the loop
		resp, up, body := get(t, g, "/x", basicHeader("gold", "gold-password"))
		expectStatus(t, resp, body, 200)
		if up.Header.Get("X-Tier") != "gold" {
			t.Fatalf("request %d: the consumer's policy did not run: %v", i, up.Header)
		}
	}
}
