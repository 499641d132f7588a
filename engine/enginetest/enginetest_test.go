package enginetest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/policies"
)

const cfg = `upstreams: [ { name: up, targets: [ { addr: "10.255.0.1:80" }, { addr: "10.255.0.2:80" } ] } ]
routes:
  - match: { paths: ["/mock"] }
    policies: [ { name: response, config: { status: 418, body: teapot } } ]
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: headers
        config: { request: { set: { X-Added: "1" } }, response: { set: { X-Gateway: sluice } } }
`

func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Saw-Added", r.Header.Get("X-Added"))
	w.Header().Set("X-Saw-Path", r.URL.RequestURI())
	w.Write(b)
}

func TestProxiedRequestThroughPolicies(t *testing.T) {
	g := enginetest.New(t, cfg, policies.Build, http.HandlerFunc(echo))
	resp := g.Do("POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello" || resp.Header.Get("X-Saw-Added") != "1" ||
		resp.Header.Get("X-Gateway") != "sluice" || resp.Header.Get("X-Saw-Path") != "/a?b=1" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestLocalAnswerAndNoRoute(t *testing.T) {
	g := enginetest.New(t, cfg+"  - match: { hosts: [only.example] , paths: [\"/x\"] }\n    upstream: up\n", policies.Build, nil)
	resp := g.Do("GET /mock HTTP/1.1\r\nHost: x\r\n\r\n")
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 418 || string(body) != "teapot" {
		t.Fatalf("mock: %d %q", resp.StatusCode, body)
	}
	if g.Server().Stats().UpstreamDials != 0 {
		t.Fatal("a local answer dialed an upstream")
	}
}

func TestPipelinedRequestsReuseUpstreamConnections(t *testing.T) {
	g := enginetest.New(t, cfg, policies.Build, http.HandlerFunc(echo))
	raw := strings.Repeat("GET /p HTTP/1.1\r\nHost: x\r\n\r\n", 5)
	out := string(g.DoRaw(raw))
	if n := strings.Count(out, "HTTP/1.1 200 OK"); n != 5 {
		t.Fatalf("%d responses of 5:\n%s", n, out)
	}
	// Round-robin over two targets: one connection to each, then reuse.
	if d := g.Server().Stats().UpstreamDials; d != 2 {
		t.Fatalf("%d upstream dials for 5 pipelined requests over 2 targets, want 2 (keep-alive)", d)
	}
}

func TestMalformedRequestIsRefused(t *testing.T) {
	g := enginetest.New(t, cfg, policies.Build, nil)
	resp := g.Do("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Fatalf("CL+TE: %d", resp.StatusCode)
	}
}
