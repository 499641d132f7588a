package policies_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

// Shared pieces of the auth policies' tests: a gateway in-process whose
// upstream echoes what it received.

// echoed is what the echo upstream saw.
type echoed struct {
	Target string      `json:"target"`
	Header http.Header `json:"header"`
}

func authEchoUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Target: r.URL.RequestURI(), Header: r.Header})
	})
}

// authGateway runs one route with the given policies (YAML list items
// indented by six spaces) and a consumers section (top-level YAML).
func authGateway(t testing.TB, policyItems, consumers string) *enginetest.Gateway {
	t.Helper()
	yml := `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" } ] } ]
shared_dicts: { auth: 1m }
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
` + policyItems + consumers
	return enginetest.New(t, yml, policies.Build, authEchoUpstream())
}

// get sends a GET with the given fields and returns the response and what
// the upstream saw (nil when the gateway answered itself).
func get(t *testing.T, g *enginetest.Gateway, target string, fields ...string) (*http.Response, *echoed, string) {
	t.Helper()
	raw := "GET " + target + " HTTP/1.1\r\nHost: api.test\r\n"
	for _, f := range fields {
		raw += f + "\r\n"
	}
	resp := g.Do(raw + "\r\n")
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var e echoed
	if resp.StatusCode == 200 && json.Unmarshal([]byte(body.String()), &e) == nil && e.Target != "" {
		return resp, &e, body.String()
	}
	return resp, nil, body.String()
}

// expectStatus checks the status and, for a refusal, that the body does
// not leak the secrets (a 200 is the echo of what the upstream got).
func expectStatus(t *testing.T, resp *http.Response, body string, status int, secrets ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	for _, s := range secrets {
		if resp.StatusCode >= 400 && s != "" && strings.Contains(body, s) {
			t.Fatalf("the body leaks a secret: %s", body)
		}
	}
}

func parseConfig(yml string) (*config.Config, error) { return config.Parse([]byte(yml), "t.yaml") }
