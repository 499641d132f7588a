package adminapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-gw/sluice/adminapi"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/live"
	"github.com/sluice-gw/sluice/policies"
)

const token = "unit-test-token-0123456789"

const baseConfig = `
upstreams:
  - name: u
    targets: [{addr: 127.0.0.1:9001}]
routes:
  - name: r
    match: {paths: [/r/*]}
    upstream: u
consumers:
  - name: alice
    groups: [staff]
    credentials:
      key_auth: [{key: alice-secret-key-0123}]
`

type fixture struct {
	srv   *httptest.Server
	store *live.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h, store := newHandler(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: store}
}

// newHandler is the API of baseConfig behind RequireToken, served by
// nobody: a test calls it with httptest.NewRecorder.
func newHandler(t testing.TB) (http.Handler, *live.Store) {
	t.Helper()
	cfg, err := config.Parse([]byte(baseConfig), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := engine.NewCompiler(policies.Build)
	t.Cleanup(c.Close)
	snap, err := c.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	es, err := engine.NewServer(engine.Options{Listen: "127.0.0.1:0", Workers: 1}, snap)
	if err != nil {
		t.Fatal(err)
	}
	store := live.New(live.Options{Server: es, Compiler: c}, cfg, snap)
	t.Cleanup(func() { _ = store.Close() })
	mux := http.NewServeMux()
	adminapi.Register(mux, adminapi.Options{Store: store, Authenticated: true, Schema: policies.Schema, Policies: policies.Schemas})
	return adminapi.RequireToken(token, mux), store
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func expect(t *testing.T, what string, status int, body string, wantStatus int, wantIn ...string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d: %s", what, status, wantStatus, body)
	}
	for _, w := range wantIn {
		if !strings.Contains(body, w) {
			t.Fatalf("%s: body does not contain %q:\n%s", what, w, body)
		}
	}
}

func TestTokenIsRequired(t *testing.T) {
	f := newFixture(t)
	for _, auth := range []string{"", "Bearer", "Bearer ", "bearer " + token, "Bearer " + token[:len(token)-1], "Basic " + token} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/config", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || strings.Contains(string(b), token[:10]) {
			t.Fatalf("%q: %d %s", auth, resp.StatusCode, b)
		}
	}
	st, body := f.do(t, "GET", "/config", "")
	expect(t, "with the token", st, body, 200, `"routes"`)
}

// Secrets are shown as the placeholder, never echoed in errors, and the
// placeholder sent back is refused; a PATCH that leaves credentials out
// keeps them.
func TestSecretsNeverLeave(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/config", "/consumers", "/consumers/alice"} {
		st, body := f.do(t, "GET", path, "")
		expect(t, path, st, body, 200, config.Redacted)
		if strings.Contains(body, "alice-secret") {
			t.Fatalf("%s shows the key: %s", path, body)
		}
	}
	_, got := f.do(t, "GET", "/consumers/alice", "")
	st, body := f.do(t, "PUT", "/consumers/alice", got)
	expect(t, "the placeholder sent back", st, body, 400, `"pointer": "/credentials/key_auth/0/key"`, "placeholder")
	st, body = f.do(t, "PUT", "/consumers/bob", `{"credentials": {"key_auth": [{"key": "alice-secret-key-0123"}]}}`)
	expect(t, "a duplicate key", st, body, 400, "duplicate key_auth credential")
	if strings.Contains(body, "alice-secret") {
		t.Fatalf("the error shows the key: %s", body)
	}
	st, body = f.do(t, "PATCH", "/consumers/alice", `{"groups": ["staff", "ops"]}`)
	expect(t, "PATCH", st, body, 200, `"ops"`)
	cfg, _ := f.store.Current()
	if k := cfg.Consumers[0].Credentials.KeyAuth[0].KeyBytes(); k != "alice-secret-key-0123" {
		t.Fatalf("the PATCH lost the key: %q", k)
	}
}

func TestBadRequestsAreSaidPrecisely(t *testing.T) {
	f := newFixture(t)
	st, body := f.do(t, "PUT", "/routes/x", strings.Repeat(" ", 2<<20)+"{}")
	expect(t, "a body over the cap", st, body, 413, "over")
	st, body = f.do(t, "PUT", "/routes/x", "{\n  \"match\": {\"paths\": [\"/x\"]},\n  \"upstream\": \"u\",,\n}")
	expect(t, "malformed JSON", st, body, 400, "line 3, column")
	st, body = f.do(t, "PUT", "/upstreams/u", `{"targets": [{"addr": "nope"}]}`)
	expect(t, "a bad target", st, body, 400, `"pointer": "/targets/0/addr"`, `"path": "upstreams[0].targets[0].addr"`, "host:port")
	st, body = f.do(t, "DELETE", "/upstreams/u", "")
	expect(t, "an upstream in use", st, body, 400, `is used by routes[0] (\"r\")`)
	st, body = f.do(t, "GET", "/routes/nope", "")
	expect(t, "a missing route", st, body, 404)
	st, body = f.do(t, "PATCH", "/routes/nope", `{}`)
	expect(t, "patching a missing route", st, body, 404)
	st, body = f.do(t, "DELETE", "/upstreams/u/targets/127.0.0.1:1", "")
	expect(t, "a missing target", st, body, 404, "127.0.0.1:1")
	st, body = f.do(t, "PUT", "/routes/r", `{"upstream": "u"}`, "If-Match", "yesterday")
	expect(t, "a malformed If-Match", st, body, 400, "If-Match")
	st, body = f.do(t, "PUT", "/routes/x", `{"upstream": "u", "policies": [{"name": "nope"}]}`)
	expect(t, "an unknown policy", st, body, 400, `"pointer": "/policies/0`)
	st, body = f.do(t, "PUT", "/routes/y", `{"match": {"paths": ["/r/*"]}, "upstream": "u"}`)
	expect(t, "an overlapping route", st, body, 400, `matches the same requests as routes[0] (\"r\")`, `"pointer": "/match"`)
	st, body = f.do(t, "GET", "/schemas/policies/nope", "")
	expect(t, "an unknown schema", st, body, 404)
	_, v := f.store.Current()
	if v != 1 {
		t.Fatalf("refused changes moved the version to %d", v)
	}
}

func TestDryRunAndGlobals(t *testing.T) {
	f := newFixture(t)
	_, cfgJSON := f.do(t, "GET", "/config", "")
	// The GET's JSON shows secrets redacted: a config sent back must carry
	// the real ones.
	withKey := strings.Replace(cfgJSON, config.Redacted, "alice-secret-key-0123", 1)
	st, body := f.do(t, "POST", "/config/validate", strings.Replace(withKey, `"/r/*"`, `"/q/*"`, 1))
	expect(t, "validate", st, body, 200, `"valid": true`, `"version": 1`)
	st, body = f.do(t, "POST", "/config/validate", strings.Replace(withKey, `"upstream":"u"`, `"upstream":"v"`, 1))
	expect(t, "validate a bad config", st, body, 400, `"pointer": "/routes/0/upstream"`)
	st, body = f.do(t, "PUT", "/global-policies", `[{"name": "request-id"}]`)
	expect(t, "globals", st, body, 200, `"request-id"`)
	st, body = f.do(t, "PUT", "/global-policies", `[{"name": "cors", "config": {"max_age": "x"}}]`)
	expect(t, "bad globals", st, body, 400, `global_policies[0].config`)
	st, body = f.do(t, "GET", "/schemas/policies/limit-count", "")
	expect(t, "a schema", st, body, 200, `"properties"`)
	if _, v := f.store.Current(); v != 2 {
		t.Fatalf("version %d after one accepted change", v)
	}
}

// Concurrent writers: every change applies, one at a time.
func TestConcurrentWrites(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				st, body := f.do(t, "PUT", fmt.Sprintf("/routes/c%d-%d", i, j), fmt.Sprintf(`{"match": {"paths": ["/c%d/%d"]}, "upstream": "u"}`, i, j))
				if st != 201 {
					t.Errorf("%d %s", st, body)
				}
			}
		}(i)
	}
	wg.Wait()
	cfg, v := f.store.Current()
	if cfg.Routes.Len() != 41 || v != 41 {
		t.Fatalf("%d routes, version %d; want 41, 41", cfg.Routes.Len(), v)
	}
}

// GET /routes and GET /config, served partly from the per-revision cache,
// say what an encoding of the whole says, before and after a change.
func TestListsFollowChanges(t *testing.T) {
	f := newFixture(t)
	for round, body := range []string{"", `{"match": {"paths": ["/q"]}, "upstream": "u"}`} {
		if body != "" {
			if st, b := f.do(t, "PUT", "/routes/q", body); st != 201 {
				t.Fatalf("%d %s", st, b)
			}
		}
		cfg, _ := f.store.Current()
		_, list := f.do(t, "GET", "/routes", "")
		want, _ := config.EncodeJSON(cfg.Routes)
		if strings.TrimSpace(list) != string(want) {
			t.Fatalf("round %d: GET /routes\n%s\nwant\n%s", round, list, want)
		}
		_, whole := f.do(t, "GET", "/config", "")
		var got, exp map[string]any
		wantWhole, _ := config.EncodeJSON(cfg)
		if json.Unmarshal([]byte(whole), &got) != nil || json.Unmarshal(wantWhole, &exp) != nil || !reflect.DeepEqual(got, exp) {
			t.Fatalf("round %d: GET /config\n%s\nwant\n%s", round, whole, wantWhole)
		}
	}
}

// While the store holds changes (an upgrade under way) a write gets a 503
// that says why and when to retry, reads and dry runs go on, and nothing
// changed; after Release the same write is taken.
func TestWritesWhileHeldAre503(t *testing.T) {
	f := newFixture(t)
	f.store.Hold()
	req, _ := http.NewRequest("PUT", f.srv.URL+"/routes/held", strings.NewReader(`{"match": {"paths": ["/held"]}, "upstream": "u"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "upgrade is under way") {
		t.Fatalf("PUT while held: %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	st, b := f.do(t, "GET", "/routes/held", "")
	expect(t, "GET the refused route", st, b, http.StatusNotFound)
	st, b = f.do(t, "POST", "/config/validate", `{"upstreams": [{"name": "u", "targets": [{"addr": "127.0.0.1:9"}]}], "routes": [{"name": "r", "match": {"paths": ["/r"]}, "upstream": "u"}]}`)
	expect(t, "a dry run while held", st, b, http.StatusOK)
	f.store.Release()
	st, b = f.do(t, "PUT", "/routes/held", `{"match": {"paths": ["/held"]}, "upstream": "u"}`)
	expect(t, "PUT after Release", st, b, http.StatusCreated)
}
