package policies_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func statusUpstream(t testing.TB) string {
	return startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		st := 200
		if s := r.URL.Query().Get("status"); s != "" {
			st, _ = strconv.Atoi(s)
		}
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Internal", "secret")
		if r.URL.Query().Get("gzip") != "" {
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.WriteHeader(st)
		w.Write([]byte(strings.Repeat("<p>upstream page</p>", 50)))
	})
}

const rewriteErrors = `      - name: request-id
        config: { trust_incoming: true }
      - name: response-rewrite
        config:
          only_statuses: [500, 502, 503]
          status: 503
          headers:
            set: { Content-Type: application/json }
            remove: [X-Internal]
          body: '{{"error":"{status}","id":"{request_id}"}}'
`

func TestResponseRewriteUpstreamErrors(t *testing.T) {
	g := startGateway(t, statusUpstream(t), routeYAML(rewriteErrors))
	cl := dial(t, g.addr)
	r, body := cl.do("GET", "/page?status=500&gzip=1", "X-Request-Id: rid-1")
	if r.StatusCode != 503 || body != `{"error":"503","id":"rid-1"}` || r.Header.Get("Content-Type") != "application/json" ||
		r.Header.Get("X-Internal") != "" || r.Header.Get("Content-Encoding") != "" || r.ContentLength != int64(len(body)) {
		t.Fatalf("500 rewritten: %d %q %v", r.StatusCode, body, r.Header)
	}
	// Not in only_statuses: untouched, on the same connection.
	r, body = cl.do("GET", "/page?status=404", "X-Request-Id: rid-2")
	if r.StatusCode != 404 || !strings.HasPrefix(body, "<p>upstream page</p>") || len(body) != 50*len("<p>upstream page</p>") || r.Header.Get("X-Internal") != "secret" {
		t.Fatalf("404 kept: %d %q %v", r.StatusCode, body[:min(len(body), 40)], r.Header)
	}
	// HEAD: the head says the new length, no body follows.
	r, body = cl.do("HEAD", "/page?status=502", "X-Request-Id: rid-3")
	if r.StatusCode != 503 || body != "" || r.ContentLength != int64(len(`{"error":"503","id":"rid-3"}`)) {
		t.Fatalf("HEAD: %d %q %d", r.StatusCode, body, r.ContentLength)
	}
}

// The gateway's own 502 (no upstream) is rewritten too: it passes
// header_filter and body_filter like an upstream response.
func TestResponseRewriteGatewayAnswers(t *testing.T) {
	g := startGateway(t, freeAddr(t), routeYAML(rewriteErrors))
	r, body := dial(t, g.addr).do("GET", "/x", "X-Request-Id: rid-9")
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil || r.StatusCode != 503 || e["id"] != "rid-9" || e["error"] != "503" {
		t.Fatalf("gateway 502 rewritten: %d %q %v", r.StatusCode, body, err)
	}
}

func TestResponseRewriteBodyTooLargeIs502(t *testing.T) {
	g := startGateway(t, statusUpstream(t), routeYAML(`      - name: response-rewrite
        config: { body: "short", max_body: 100 }
`))
	r, _ := dial(t, g.addr).do("GET", "/page")
	if r.StatusCode != 502 {
		t.Fatalf("1000-byte body past max_body 100: %d", r.StatusCode)
	}
}

func TestResponseRewriteHeadersOnly(t *testing.T) {
	g := startGateway(t, statusUpstream(t), routeYAML(`      - name: response-rewrite
        config: { status: 299, headers: { add: { X-Seen: "1" } } }
`))
	r, body := dial(t, g.addr).do("GET", "/page")
	if r.StatusCode != 299 || r.Header.Get("X-Seen") != "1" || len(body) != 1000 || r.ContentLength != 1000 {
		t.Fatalf("%d %v %d", r.StatusCode, r.Header, len(body))
	}
}
