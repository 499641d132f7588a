package adminapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// adminWrites are the writes FuzzAdminAPIWrite sends its bodies to.
var adminWrites = [...]string{
	"PUT /routes/r", "PUT /routes/x", "PATCH /routes/r", "PUT /upstreams/u", "PATCH /upstreams/u",
	"PUT /consumers/alice", "PATCH /consumers/alice", "PUT /consumers/bob", "PUT /config",
	"POST /config/validate", "POST /config/diff", "PUT /global-policies",
	"PUT /upstreams/u/targets/127.0.0.1:9002", "DELETE /upstreams/u/targets/127.0.0.1:9001",
	"POST /routes/r/policies/0/purge", "DELETE /routes/r", "DELETE /consumers/alice",
}

// FuzzAdminAPIWrite sends the Admin API any body (JSON or YAML), any
// If-Match and any Authorization, on every write. The handler is called
// directly, so a panic fails the target instead of being recovered by
// net/http: the answer is never a 5xx, a refusal is a JSON error whose
// pointers are JSON pointers, neither the token nor a consumer's key is
// in it (unless the request carried it), and a GET answers right after
// (no lock is left held).
func FuzzAdminAPIWrite(f *testing.F) {
	for i, body := range []string{
		`{"match": {"paths": ["/x/*"]}, "upstream": "u"}`,
		`{"upstream": "u", "policies": [{"name": "limit-count", "config": {"count": -1}}]}`,
		`{"match": null, "upstream": null}`,
		`{"targets": [{"addr": "127.0.0.1:1", "weight": 1e999}]}`,
		`{"credentials": {"key_auth": [{"key": "<redacted>"}]}}`,
		`{"weight": 5, "down": true}`,
		`{"key": "/a", "prefix": true}`,
		"routes: [{name: r, upstream: u, match: {paths: [/r/*]}}]\nupstreams: [{name: u, targets: [{addr: 127.0.0.1:9001}]}]",
		`[{"name": "cors"}]`,
		`null`, `[]`, `"s"`, `{"a":` + strings.Repeat("[", 10001) + `}`, `{"":{"~1":{"~0":1}}}`,
		"{\"name\": \"\xff\\u0000\", \"upstream\": \"u\"}",
		"&a [*a, *a, *a, *a, *a, *a, *a, *a, *a]", "a: !!binary AAAA", "{{{{",
	} {
		f.Add(uint8(i), body, i%3 == 0, `"1"`, "Bearer "+token)
	}
	f.Add(uint8(0), `{}`, false, "W/\"99999999999999999999\"", "Bearer "+token)
	f.Add(uint8(3), `{}`, false, "*", "Bearer "+token+" ")
	f.Add(uint8(3), `{}`, false, "", "Basic "+token)
	f.Add(uint8(3), `{}`, false, "", "bearer "+token)
	f.Fuzz(func(t *testing.T, which uint8, body string, yaml bool, ifMatch, authorization string) {
		h, _ := newHandler(t)
		method, path, _ := strings.Cut(adminWrites[int(which)%len(adminWrites)], " ")
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if yaml {
			req.Header.Set("Content-Type", "application/yaml")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("If-Match", ifMatch)
		req.Header.Set("Authorization", authorization)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Body.String()
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, got)
		}
		if authorization != "Bearer "+token && rec.Code != 401 {
			t.Fatalf("Authorization %q: %d", authorization, rec.Code)
		}
		if !strings.Contains(body+ifMatch, token) && strings.Contains(got, token) ||
			len(authorization) > 12 && rec.Code == 401 && strings.Contains(got, authorization) {
			t.Fatalf("the answer quotes the token: %s", got)
		}
		if !strings.Contains(body, "alice-secret") && strings.Contains(got, "alice-secret") {
			t.Fatalf("the answer quotes alice's key: %s", got)
		}
		if rec.Code >= 400 {
			var e struct {
				Error  string `json:"error"`
				Errors []struct {
					Pointer string `json:"pointer"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d without a JSON error (%v): %s", rec.Code, err, got)
			}
			for _, fe := range e.Errors {
				if fe.Pointer != "" && fe.Pointer[0] != '/' {
					t.Fatalf("not a JSON pointer: %q in %s", fe.Pointer, got)
				}
			}
		}

		done := make(chan int, 1)
		go func() {
			req := httptest.NewRequest("GET", "/routes", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			done <- rec.Code
		}()
		select {
		case code := <-done:
			if code != 200 {
				t.Fatalf("GET /routes after %s %s %q: %d", method, path, body, code)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("GET /routes hangs after %s %s %q", method, path, body)
		}
	})
}
