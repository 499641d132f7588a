package policies_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// Fast, in-process tests of the limit policies (enginetest: no sockets):
// answers, headers, keys and their fallbacks, groups and identity across
// reloads. Cross-worker, cross-gateway, delay and slot-leak tests are in
// limit_e2e_test.go.

// limitTestConsumer sets the request's consumer from X-Consumer (with
// metadata tier from X-Tier): what an auth policy does, for keys on the
// consumer.
type limitTestConsumer struct{}

func (limitTestConsumer) Priority() int { return 2000 } // before the limits, like auth
func (limitTestConsumer) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
		if name, ok := x.Header("X-Consumer"); ok {
			meta := map[string]string{}
			if tier, ok := x.Header("X-Tier"); ok {
				meta["tier"] = string(tier)
			}
			x.SetConsumer(&engine.Consumer{Name: string(name), Meta: meta})
		}
		return engine.Continue
	})
	return nil
}

func init() {
	policies.RegisterConfig("limit-test-consumer", struct{}{}, func(config.PolicySpec, *engine.Env) (engine.Policy, error) {
		return limitTestConsumer{}, nil
	})
	// A variable family registered by another package, as the JWT policy
	// registers jwt_claim_NAME: limit keys accept it by name.
	engine.RegisterVariablePrefix("limittest_claim_", func(name string) (engine.VarFunc, error) {
		field := "X-Claim-" + name
		return func(x *engine.Ctx, dst []byte) ([]byte, bool) {
			v, ok := x.Header(field)
			return append(dst, v...), ok && len(v) > 0
		}, nil
	})
}

// limitGateway is an in-process gateway with one route /* carrying the
// given policy items (YAML list items, indented by six spaces).
func limitGateway(t *testing.T, extra, items string) *enginetest.Gateway {
	t.Helper()
	return enginetest.New(t, limitYAML(extra, items), policies.Build, nil)
}

func limitYAML(extra, items string) string {
	return `shared_dicts: { limits: 1MiB }
` + extra + `upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:9" } ] } ]
routes:
  - name: api
    match: { paths: ["/*"] }
    upstream: up
    policies:
      - { name: limit-test-consumer }
` + items
}

// get sends GET target with the header lines fields.
func limitGet(g *enginetest.Gateway, target string, fields ...string) *http.Response {
	req := "GET " + target + " HTTP/1.1\r\nHost: a\r\n"
	for _, f := range fields {
		req += f + "\r\n"
	}
	return g.Do(req + "\r\n")
}

// statuses sends n requests and returns their statuses, joined.
func limitStatuses(g *enginetest.Gateway, n int, target string, fields ...string) string {
	var b []string
	for i := 0; i < n; i++ {
		b = append(b, strconv.Itoa(limitGet(g, target, fields...).StatusCode))
	}
	return strings.Join(b, ",")
}

func TestLimitCountAnswersAndHeaders(t *testing.T) {
	g := limitGateway(t, "", `      - name: limit-count
        config: { limits: [ { count: 2, window: 1h }, { count: 5, window: 24h } ], status: 503, message: "slow down" }
`)
	for i := 0; i < 2; i++ {
		resp := limitGet(g, "/")
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Fatalf("request %d: %d %v", i, resp.StatusCode, resp.Header)
		}
		if reset, _ := strconv.Atoi(resp.Header.Get("X-RateLimit-Reset")); reset < 1 || reset > 3600 {
			t.Fatalf("reset %q", resp.Header.Get("X-RateLimit-Reset"))
		}
	}
	resp := limitGet(g, "/")
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 503 || body.Error != "slow down" || resp.Header.Get("X-RateLimit-Remaining") != "0" || retry < 1 || retry > 3600 {
		t.Fatalf("refusal: %d %q %v", resp.StatusCode, body.Error, resp.Header)
	}
}

func TestLimitCountDraftHeaders(t *testing.T) {
	g := limitGateway(t, "", `      - name: limit-count
        config: { limits: [ { count: 2, window: 1h }, { count: 5, calendar: month } ], draft_headers: true }
`)
	resp := limitGet(g, "/")
	policy, rl := resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit")
	if policy != `"p0";q=2;w=3600, "p1";q=5` || !strings.HasPrefix(rl, `"p0";r=1;t=`) {
		t.Fatalf("success: RateLimit-Policy %q, RateLimit %q", policy, rl)
	}
	limitGet(g, "/")
	resp = limitGet(g, "/")
	if resp.StatusCode != 429 || resp.Header.Get("RateLimit-Policy") != policy || !strings.HasPrefix(resp.Header.Get("RateLimit"), `"p0";r=0;t=`) {
		t.Fatalf("refusal: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestLimitHeadersOff(t *testing.T) {
	g := limitGateway(t, "", `      - { name: limit-count, config: { count: 1, window: 1h, headers: false } }
      - { name: limit-req, config: { rate: 1r/m, headers: false, group: r } }
`)
	for i, want := range []int{200, 429} {
		resp := limitGet(g, "/")
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		for _, f := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
			if v := resp.Header.Get(f); v != "" {
				t.Fatalf("request %d: %s: %s with headers: false", i, f, v)
			}
		}
	}
}

func TestLimitKeys(t *testing.T) {
	for _, tc := range []struct {
		key              string
		same, other, ip  []string // requests sharing a counter; one with another value; one without any
		ipFallbackShares bool     // the keyless request counts by IP, like a keyless one before it
	}{
		{"ip", []string{"X-A: 1"}, nil, nil, false},
		{"header:X-Api-Key", []string{"X-Api-Key: k1"}, []string{"X-Api-Key: k2"}, []string{}, true},
		{"arg:token", []string{"?token=t1"}, []string{"?token=t2"}, []string{"?other=1"}, true},
		{"cookie:sid", []string{"Cookie: a=1; sid=s1"}, []string{"Cookie: sid=s2"}, []string{"Cookie: a=1"}, true},
		{"consumer", []string{"X-Consumer: alice"}, []string{"X-Consumer: bob"}, []string{}, true},
		{"consumer_meta_tier", []string{"X-Consumer: a", "X-Tier: gold"}, []string{"X-Consumer: a", "X-Tier: free"}, []string{"X-Consumer: a"}, true},
		{"limittest_claim_company", []string{"X-Claim-company: c1"}, []string{"X-Claim-company: c2"}, []string{}, true},
		{"{consumer}:{limittest_claim_user}", []string{"X-Consumer: alice", "X-Claim-user: 7"}, []string{"X-Consumer: alice", "X-Claim-user: 8"}, []string{"X-Consumer: alice"}, true},
		{"{http_x_user_id}", []string{"X-User-Id: u1"}, []string{"X-User-Id: u2"}, []string{}, true},
		{"route", []string{"X-A: 1"}, nil, nil, false},
		{"upstream", []string{"X-A: 1"}, nil, nil, false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			g := limitGateway(t, "", fmt.Sprintf("      - { name: limit-count, config: { count: 1, window: 1h, key: %q } }\n", tc.key))
			send := func(parts []string) int {
				target, fields := "/", []string{}
				for _, p := range parts {
					if strings.HasPrefix(p, "?") {
						target += p
					} else {
						fields = append(fields, p)
					}
				}
				return limitGet(g, target, fields...).StatusCode
			}
			if got := fmt.Sprint(send(tc.same), send(tc.same)); got != "200 429" {
				t.Fatalf("two requests with one value: %s", got)
			}
			if tc.other != nil {
				if got := send(tc.other); got != 200 {
					t.Fatalf("another value shares the counter: %d", got)
				}
			}
			if tc.ip != nil {
				// Without a value: counted by client IP (the default
				// key_missing), apart from the requests with a value.
				if got := fmt.Sprint(send(tc.ip), send(tc.ip)); got != "200 429" {
					t.Fatalf("requests without a value: %s", got)
				}
			}
		})
	}
}

func TestLimitKeyMissing(t *testing.T) {
	for _, tc := range []struct{ missing, want string }{
		{"ip", "200,429,429"},
		{"skip", "200,200,200"},
		{"reject", "429,429,429"},
	} {
		t.Run(tc.missing, func(t *testing.T) {
			g := limitGateway(t, "", "      - { name: limit-count, config: { count: 1, window: 1h, key: consumer, key_missing: "+tc.missing+" } }\n")
			if got := limitStatuses(g, 3, "/"); got != tc.want {
				t.Fatalf("requests without a consumer: %s, want %s", got, tc.want)
			}
			if got := limitStatuses(g, 2, "/", "X-Consumer: alice"); got != "200,429" {
				t.Fatalf("a consumer's requests: %s", got)
			}
		})
	}
	g := limitGateway(t, "", "      - { name: limit-req, config: { rate: 1r/m, key: consumer, key_missing: reject } }\n")
	resp := limitGet(g, "/")
	var body struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 429 || body.Error != "no value for the rate-limit key consumer" {
		t.Fatalf("limit-req rejecting a request without a consumer: %d %q", resp.StatusCode, body.Error)
	}
}

// Routes of one group share a counter; a route's own counter follows it
// when routes are reordered and reloaded (its identity is its name).
func TestLimitGroupAndIdentityAcrossReloads(t *testing.T) {
	routes := func(order ...string) string {
		defs := map[string]string{
			"a": `  - name: a
    match: { paths: ["/a"] }
    upstream: up
    policies: [ { name: limit-count, config: { count: 3, window: 1h, group: shared } } ]
`,
			"b": `  - name: b
    match: { paths: ["/b"] }
    upstream: up
    policies: [ { name: limit-count, config: { count: 3, window: 1h, group: shared } } ]
`,
			"own": `  - name: own
    match: { paths: ["/own"] }
    upstream: up
    policies: [ { name: limit-req, config: { rate: 1r/m, burst: 1, nodelay: true } } ]
`,
		}
		y := "shared_dicts: { limits: 1MiB }\nupstreams: [ { name: up, targets: [ { addr: \"127.0.0.1:9\" } ] } ]\nroutes:\n"
		for _, o := range order {
			y += defs[o]
		}
		return y
	}
	g := enginetest.New(t, routes("a", "b", "own"), policies.Build, nil)
	if got := limitStatuses(g, 2, "/a") + "," + limitStatuses(g, 2, "/b"); got != "200,200,200,429" {
		t.Fatalf("a group of two routes: %s", got)
	}
	if got := limitStatuses(g, 1, "/own"); got != "200" {
		t.Fatalf("own: %s", got)
	}
	if err := g.Reload(routes("own", "b", "a")); err != nil {
		t.Fatal(err)
	}
	if got := limitStatuses(g, 1, "/a") + "," + limitStatuses(g, 2, "/own"); got != "429,200,429" {
		t.Fatalf("after a reload that reordered the routes: %s, want the counters kept", got)
	}
}

func TestLimitReqRefusesBeyondBurst(t *testing.T) {
	g := limitGateway(t, "", "      - { name: limit-req, config: { rate: 1r/m, burst: 2, nodelay: true, key: header:X-Api-Key } }\n")
	if got := limitStatuses(g, 4, "/", "X-Api-Key: k"); got != "200,200,200,429" {
		t.Fatalf("1r/m with a burst of 2, nodelay: %s", got)
	}
	resp := limitGet(g, "/", "X-Api-Key: k")
	retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || retry < 1 || retry > 60 || resp.Header.Get("X-RateLimit-Limit") != "3" {
		t.Fatalf("refusal: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := limitGet(g, "/", "X-Api-Key: other"); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("another key: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestLimitConnRefusesNothingSequential(t *testing.T) {
	// One request at a time never exceeds max: 1, and the slot is back
	// after each (the log phase ran).
	g := limitGateway(t, "", "      - { name: limit-conn, config: { max: 1 } }\n")
	if got := limitStatuses(g, 5, "/"); got != "200,200,200,200,200" {
		t.Fatalf("sequential requests with max 1: %s", got)
	}
}

// Regression: the refusal's body is JSON for any message the config
// accepts: quotes, backslashes and non-ASCII come back as they were (the
// config refuses control characters: TestLimitConfigErrors).
func TestLimitRefusalBodyIsJSONForAnyAcceptedMessage(t *testing.T) {
	const msg = `say "slow" \ café 🚦`
	for kind, limits := range map[string]string{"limit-count": "count: 1, window: 1h", "limit-req": "rate: 1r/m"} {
		g := limitGateway(t, "", "      - name: "+kind+"\n        config: { "+limits+", message: '"+msg+"' }\n")
		limitGet(g, "/")
		resp := limitGet(g, "/")
		var body struct{ Error string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 429 || body.Error != msg {
			t.Errorf("%s: %d, error %q, decoding: %v", kind, resp.StatusCode, body.Error, err)
		}
	}
}
