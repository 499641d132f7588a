package policies_test

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// namedUpstream answers its name.
func namedUpstream(t testing.TB, name string) string {
	return startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(name)) })
}

func splitGateway(t testing.TB, workers int, policyConfig string) *gateway {
	yml := fmt.Sprintf(`listen: {listen}
workers: %d
upstreams:
  - { name: stable, targets: [ { addr: "%s" } ] }
  - { name: canary, targets: [ { addr: "%s" } ] }
  - { name: beta, targets: [ { addr: "%s" } ] }
routes:
  - name: api
    match: { paths: ["/*"] }
    upstream: stable
    policies:
      - name: traffic-split
        config:
`, workers, namedUpstream(t, "stable"), namedUpstream(t, "canary"), namedUpstream(t, "beta")) + policyConfig
	return startGateway(t, "", yml)
}

func TestTrafficSplitWeightedRoundRobinIsExact(t *testing.T) {
	g := splitGateway(t, 1, `          rules:
            - upstreams: [ { upstream: canary, weight: 10 }, { weight: 90 } ]
`)
	cl := dial(t, g.addr)
	counts := map[string]int{}
	last := ""
	run := 0
	for i := 0; i < 1000; i++ {
		_, body := cl.do("GET", "/x")
		counts[body]++
		if body == "canary" && last == "canary" {
			run++
		}
		last = body
	}
	// One worker, smooth weighted round-robin: exactly 10% over any
	// multiple of the cycle, and the canary requests are spread out.
	if counts["canary"] != 100 || counts["stable"] != 900 {
		t.Fatalf("counts %v", counts)
	}
	if run != 0 {
		t.Fatalf("%d canary requests in a row: not spread", run)
	}
}

func TestTrafficSplitMatchRules(t *testing.T) {
	g := splitGateway(t, 1, `          rules:
            - match: [ { header: X-Canary, values: ["1", "yes"] } ]
              upstreams: [ { upstream: canary } ]
            - match: [ { arg: beta }, { cookie: group, values: [testers], not: true } ]
              upstreams: [ { upstream: beta } ]
            - match: [ { cookie: group, values: [testers] } ]
              upstreams: [ { upstream: canary, weight: 1 }, { upstream: beta, weight: 0 } ]
`)
	cl := dial(t, g.addr)
	for _, tc := range []struct {
		name, target string
		fields       []string
		want         string
	}{
		{"no rule matches: the route's upstream", "/a", nil, "stable"},
		{"header value listed", "/a", []string{"X-Canary: yes"}, "canary"},
		{"header value not listed", "/a", []string{"X-Canary: no"}, "stable"},
		{"arg present, not a tester", "/a?beta", nil, "beta"},
		{"arg present but a tester: second rule fails, third matches", "/a?beta=1", []string{"Cookie: x=1; group=testers"}, "canary"},
		{"weight 0 never chosen", "/a", []string{"Cookie: group=testers"}, "canary"},
	} {
		if _, body := cl.do("GET", tc.target, tc.fields...); body != tc.want {
			t.Errorf("%s: went to %s, want %s", tc.name, body, tc.want)
		}
	}
}

func TestTrafficSplitHashIsStickyAndWeighted(t *testing.T) {
	g := splitGateway(t, 2, `          hash_on: cookie_uid
          rules:
            - upstreams: [ { upstream: canary, weight: 20 }, { upstream: stable, weight: 80 } ]
`)
	const users = 2000
	first := make([]string, users)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl := dial(t, g.addr)
			for u := c; u < users; u += 4 {
				cookie := "Cookie: uid=user-" + strconv.Itoa(u)
				_, a := cl.do("GET", "/x", cookie)
				_, b := cl.do("GET", "/y", cookie) // another request, maybe another worker
				if a != b {
					t.Errorf("user %d went to %s then %s", u, a, b)
				}
				mu.Lock()
				first[u] = a
				counts[a]++
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	share := float64(counts["canary"]) / users
	// 2000 users: a binomial's standard deviation is 0.9 point; 4 of them
	// is far beyond chance.
	if math.Abs(share-0.20) > 0.036 {
		t.Fatalf("canary share %.3f of users, want 0.20: %v", share, counts)
	}
	// Without the cookie: round-robin, still by weight.
	cl := dial(t, g.addr)
	n := 0
	for i := 0; i < 100; i++ {
		if _, body := cl.do("GET", "/z"); body == "canary" {
			n++
		}
	}
	if n < 15 || n > 25 { // two workers, each exact over its own cycle
		t.Fatalf("%d of 100 requests without a key went to the canary", n)
	}
}

func TestTrafficSplitByConsumer(t *testing.T) {
	// Canary by user group: key-auth (priority above 920) identifies the
	// consumer; rules read its metadata and its name through variables.
	g := startGateway(t, "", `listen: {listen}
workers: 1
shared_dicts: { auth: 1m }
upstreams:
  - { name: stable, targets: [ { addr: "`+namedUpstream(t, "stable")+`" } ] }
  - { name: canary, targets: [ { addr: "`+namedUpstream(t, "canary")+`" } ] }
  - { name: beta, targets: [ { addr: "`+namedUpstream(t, "beta")+`" } ] }
consumers:
  - { name: ann, metadata: { tier: gold }, credentials: { key_auth: [ { key: ann-key-0123456789 } ] } }
  - { name: bob, metadata: { tier: iron }, credentials: { key_auth: [ { key: bob-key-0123456789 } ] } }
  - { name: cy, metadata: { tier: iron }, credentials: { key_auth: [ { key: cy-key-0123456789 } ] } }
routes:
  - match: { paths: ["/*"] }
    upstream: stable
    policies:
      - name: key-auth
      - name: traffic-split
        config:
          rules:
            - match: [ { var: consumer_meta_tier, values: [gold] } ]
              upstreams: [ { upstream: beta } ]
            - match: [ { var: consumer, values: [bob] } ]
              upstreams: [ { upstream: canary } ]
`)
	cl := dial(t, g.addr)
	for key, want := range map[string]string{"ann-key-0123456789": "beta", "bob-key-0123456789": "canary", "cy-key-0123456789": "stable"} {
		if resp, body := cl.do("GET", "/", "apikey: "+key); resp.StatusCode != 200 || body != want {
			t.Errorf("%s: %d %s, want %s", key, resp.StatusCode, body, want)
		}
	}
}

func contains(s, sub string) bool { return indexOf(s, sub) >= 0 }

// BenchmarkTrafficSplitProxied is a proxied keep-alive request through
// traffic-split beside the same route without policies.
func BenchmarkTrafficSplitProxied(b *testing.B) {
	for _, name := range []string{"none", "round-robin", "hash"} {
		b.Run("split="+name, func(b *testing.B) {
			g := splitAllocGateway(b, splitPolicies[name])
			sc := newSteadyClient(b, g.addr, plainReq)
			sc.run(b, 1000)
			b.ReportAllocs()
			b.ResetTimer()
			sc.run(b, b.N)
		})
	}
}

// splitAllocGateway proxies to two fixed upstreams; policies is the
// route's policy list (YAML items) or "".
func splitAllocGateway(t testing.TB, policies string) *gateway {
	a := fixedUpstream(t, []byte(fixedResp))
	b := fixedUpstream(t, []byte(fixedResp))
	yml := `listen: {listen}
workers: 1
upstreams:
  - { name: stable, targets: [ { addr: "` + a + `" } ] }
  - { name: canary, targets: [ { addr: "` + b + `" } ] }
routes:
  - match: { paths: ["/*"] }
    upstream: stable
`
	if policies != "" {
		yml += "    policies:\n" + policies
	}
	return startGateway(t, "", yml)
}

var splitPolicies = map[string]string{
	"round-robin": `      - name: traffic-split
        config:
          rules:
            - match: [ { header: Accept, values: [application/json] } ]
              upstreams: [ { upstream: canary, weight: 10 }, { weight: 90 } ]
`,
	"hash": `      - name: traffic-split
        config:
          hash_on: "{http_user_agent}:{arg_id}"
          rules:
            - upstreams: [ { upstream: canary, weight: 10 }, { upstream: stable, weight: 90 } ]
`,
}
