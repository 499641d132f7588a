package policies_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/internal/freeport"
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
	g := startGateway(t, freeport.Addr(t), routeYAML(rewriteErrors))
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

// A body template that builds JSON gets its values JSON-escaped: by
// default when the rewrite sets a JSON Content-Type, or with body_escape:
// json. A value with '"', '\', control characters and bytes that are not
// UTF-8 stays one JSON string (invalid bytes as U+FFFD) and cannot add
// members; body_escape: none inserts it as it is.
func TestResponseRewriteBodyEscapesJSON(t *testing.T) {
	const (
		header = "X-User: a\"b\\c\td\xffe\",\"admin\":true"
		query  = "/page?q=%22%5C%01%0A%7F%F0%28x%22"
	)
	wantUser := "a\"b\\c\td\uFFFDe\",\"admin\":true"
	wantQ := "\"\\\x01\n\x7f\uFFFD(x\""
	params := `      - name: params
        config: { params: [ { name: q } ] }
`
	template := `'{{"user":"{http_x_user}","q":"{param_q}","status":{status}}}'`
	for _, tc := range []struct {
		name, config string
		escaped      bool
	}{
		{"JSON Content-Type set: escaped by default", `{ headers: { set: { content-type: "application/json; charset=utf-8" } }, body: ` + template + ` }`, true},
		{"+json Content-Type set: escaped by default", `{ headers: { set: { Content-Type: application/problem+json } }, body: ` + template + ` }`, true},
		{"body_escape: json", `{ headers: { set: { Content-Type: text/plain } }, body_escape: json, body: ` + template + ` }`, true},
		{"body_escape: none", `{ headers: { set: { Content-Type: application/json } }, body_escape: none, body: ` + template + ` }`, false},
		{"no Content-Type set: as they are", `{ body: ` + template + ` }`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, statusUpstream(t), routeYAML(params+"      - name: response-rewrite\n        config: "+tc.config+"\n"))
			r, body := dial(t, g.addr).do("GET", query, header)
			if r.StatusCode != 200 {
				t.Fatalf("%d %q", r.StatusCode, body)
			}
			var got map[string]any
			err := json.Unmarshal([]byte(body), &got)
			if !tc.escaped {
				if err == nil || !strings.Contains(body, `"user":"a"b\c`) {
					t.Fatalf("values inserted as they are: %q (%v)", body, err)
				}
				return
			}
			if err != nil || !json.Valid([]byte(body)) || len(got) != 3 || got["user"] != wantUser || got["q"] != wantQ || got["status"] != 200.0 {
				t.Fatalf("body %q (%v): %v; want user %q, q %q", body, err, got, wantUser, wantQ)
			}
			if r.ContentLength != int64(len(body)) {
				t.Fatalf("Content-Length %d for %d bytes", r.ContentLength, len(body))
			}
		})
	}
}

func TestResponseRewriteBodyEscapeErrors(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{ body: "x", body_escape: xml }`, `body_escape`},
		{`{ status: 299, body_escape: json }`, `body_escape: is for body`},
	} {
		err := compileErr(t, "      - name: response-rewrite\n        config: "+tc.config+"\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err %v, want %q", tc.config, err, tc.want)
		}
	}
}

// TestResponseRewriteMaxBodyNeedsBody: max_body without body was accepted
// and bounded nothing, while body_escape without body was refused.
func TestResponseRewriteMaxBodyNeedsBody(t *testing.T) {
	err := compileErr(t, "      - name: response-rewrite\n        config: { status: 299, max_body: 64KiB }\n")
	if err == nil || !strings.Contains(err.Error(), "config.max_body: is for body") {
		t.Fatalf("err %v, want config.max_body: is for body", err)
	}
	if err := compileErr(t, "      - name: response-rewrite\n        config: { body: x, max_body: 64KiB }\n"); err != nil {
		t.Fatalf("max_body with body: %v", err)
	}
}
