package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/internal/freeport"
)

const testToken = "test-token-0123456789abcdef"

// adminGateway is a sluice process with the Admin API on, a bearer token
// and a config file it writes changes back to.
type adminGateway struct {
	*gatewayProcess
	admin string
}

func startAdminGateway(t *testing.T, file string) *adminGateway {
	t.Setenv(tokenEnv, testToken)
	p := startProcess(t, "-c", file)
	cfg, err := config.Load(file) // a file the gateway wrote back too
	if err != nil {
		t.Fatal(err)
	}
	p.addr = cfg.Listen
	g := &adminGateway{gatewayProcess: p, admin: cfg.Admin.Listen}
	p.waitReady(t)
	waitAdmin(t, g.admin)
	return g
}

// waitAdmin waits for the admin listener, which opens after the gateway's.
func waitAdmin(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin listener never opened on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call sends an Admin API request with the token and returns the status,
// the body and the ETag.
func (g *adminGateway) call(t *testing.T, method, path, body string, hdr ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("ETag")
}

func adminConfigFile(t *testing.T, target string) string {
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	cfg := fmt.Sprintf(`# a comment the write-back drops
listen: %s
workers: 2
drain_timeout: 5s
admin:
  listen: %s
upstreams:
  - name: up
    targets: [{addr: %s}]
routes:
  - name: base
    match: {paths: ["/base/*"]}
    upstream: up
`, freeport.Addr(t), freeport.Addr(t), target)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestAdminAPIChangesApplyAtOnceAndSurviveARestart is the Admin API's
// contract with real sockets: 401 without the token; a route created is
// served at once; a bad policy config is refused with its path and the
// old config keeps serving; a stale If-Match gets 409; targets change;
// the changes are in the file after a restart.
func TestAdminAPIChangesApplyAtOnceAndSurviveARestart(t *testing.T) {
	a := startUpstream(t, "a", 0)
	b := startUpstream(t, "b", 0)
	file := adminConfigFile(t, a.addr)
	g := startAdminGateway(t, file)
	client := &http.Client{Timeout: 10 * time.Second}

	// No token, a wrong token: 401, and the body never echoes it.
	for _, auth := range []string{"", "Bearer nope", "Bearer " + testToken + "x", "Basic " + testToken} {
		req, _ := http.NewRequest("GET", "http://"+g.admin+"/config", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || strings.Contains(string(body), "nope") {
			t.Fatalf("auth %q: %d %s", auth, resp.StatusCode, body)
		}
	}
	if resp, err := client.Get("http://" + g.admin + "/metrics"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("/metrics without the token: %v %v", resp, err)
	}

	// Create a route and use it at once.
	st, body, etag := g.call(t, "PUT", "/routes/hello", `{"match": {"paths": ["/hello"]}, "policies": [{"name": "response", "config": {"body": "hi"}}]}`)
	if st != 201 || etag == "" || !strings.Contains(body, `"name":"hello"`) {
		t.Fatalf("create: %d %s %q", st, body, etag)
	}
	// In force on every worker at the 201: new connections land on both
	// of the gateway's workers.
	for i := 0; i < 8; i++ {
		fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		if got, err := get(fresh, "http://"+g.addr+"/hello"); err != nil || got != "hi" {
			t.Fatalf("the new route right after its 201 (connection %d): %q %v", i, got, err)
		}
	}

	// A bad policy config: 400 with the path, nothing changes.
	st, body, _ = g.call(t, "PUT", "/routes/hello", `{"match": {"paths": ["/hello"]}, "policies": [{"name": "response", "config": {"status": 42}}]}`)
	if st != 400 || !strings.Contains(body, `"pointer": "/policies/0/config/status"`) || !strings.Contains(body, `"path": "routes[1].policies[0].config.status"`) {
		t.Fatalf("bad policy config: %d %s", st, body)
	}
	if got, err := get(client, "http://"+g.addr+"/hello"); err != nil || got != "hi" {
		t.Fatalf("the old config must keep serving: %q %v", got, err)
	}
	st, body, _ = g.call(t, "PUT", "/routes/x", `{"match": {"paths": ["/x"]}, "upstream": `)
	if st != 400 || !strings.Contains(body, "malformed JSON: line 1, column") {
		t.Fatalf("malformed JSON: %d %s", st, body)
	}

	// Optimistic concurrency: the ETag of before a change is stale.
	st, _, etag2 := g.call(t, "PATCH", "/routes/hello", `{"policies": [{"name": "response", "config": {"body": "hello"}}]}`, "If-Match", etag)
	if st != 200 || etag2 == etag {
		t.Fatalf("PATCH with the current ETag: %d %q", st, etag2)
	}
	st, body, _ = g.call(t, "DELETE", "/routes/hello", "", "If-Match", etag)
	if st != 409 {
		t.Fatalf("stale If-Match: %d %s", st, body)
	}
	if got, _ := get(client, "http://"+g.addr+"/hello"); got != "hello" {
		t.Fatalf("after the PATCH: %q", got)
	}

	// Targets: add b, take a down, traffic moves to b.
	if st, body, _ = g.call(t, "PUT", "/upstreams/up/targets/"+b.addr, `{"weight": 2}`); st != 200 {
		t.Fatalf("add target: %d %s", st, body)
	}
	if st, body, _ = g.call(t, "DELETE", "/upstreams/up/targets/"+a.addr, ""); st != 204 {
		t.Fatalf("delete target: %d %s", st, body)
	}
	before := a.hits.Load()
	for i := 0; i < 5; i++ {
		if got, err := get(client, "http://"+g.addr+"/base/x"); err != nil || got != "b" {
			t.Fatalf("after the target change: %q %v", got, err)
		}
	}
	if a.hits.Load() != before {
		t.Fatal("the deleted target still gets requests")
	}

	// Restart: the changes are in the file.
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	g.done <- nil // for the cleanup's wait
	saved, _ := os.ReadFile(file)
	if strings.Contains(string(saved), "a comment") || !strings.Contains(string(saved), "hello") {
		t.Fatalf("the file after the changes:\n%s", saved)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the file's mode changed: %v %v", st.Mode(), err)
	}
	g2 := startAdminGateway(t, file)
	if got, err := get(client, "http://"+g2.addr+"/hello"); err != nil || got != "hello" {
		t.Fatalf("after a restart: %q %v", got, err)
	}
}

// TestApplyAndDiffCommands drives "sluice diff" and "sluice apply" against
// a running gateway.
func TestApplyAndDiffCommands(t *testing.T) {
	a := startUpstream(t, "a", 0)
	file := adminConfigFile(t, a.addr)
	g := startAdminGateway(t, file)
	data, _ := os.ReadFile(file)
	next := strings.Replace(string(data), "/base/*", "/moved/*", 1) + `  - name: extra
    match: {paths: ["/extra"]}
    policies: [{name: response, config: {body: extra}}]
`
	newFile := filepath.Join(t.TempDir(), "new.yaml")
	os.WriteFile(newFile, []byte(next), 0o600)
	var out, errb bytes.Buffer
	if code := cmdDiff([]string{"-admin", g.admin, "-f", newFile}, &out, &errb); code != 0 {
		t.Fatalf("diff: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "+ routes/extra") || !strings.Contains(out.String(), "~ routes/base (match)") {
		t.Fatalf("diff output:\n%s", out.String())
	}
	out.Reset()
	if code := cmdApply([]string{"-admin", g.admin, "-f", newFile}, &out, &errb); code != 0 {
		t.Fatalf("apply: %d %s", code, errb.String())
	}
	if got, err := get(http.DefaultClient, "http://"+g.addr+"/extra"); err != nil || got != "extra" {
		t.Fatalf("after apply: %q %v", got, err)
	}
	// A bad file: the errors of a file check, nothing applied.
	os.WriteFile(newFile, []byte(strings.Replace(next, "upstream: up", "upstream: nope", 1)), 0o600)
	errb.Reset()
	if code := cmdApply([]string{"-admin", g.admin, "-f", newFile}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), newFile+":") || !strings.Contains(errb.String(), `routes[0].upstream: unknown upstream "nope"`) {
		t.Fatalf("apply of a bad file: %s", errb.String())
	}
	var st struct {
		Version uint64 `json:"config_version"`
	}
	_, body, _ := g.call(t, "GET", "/status", "")
	if json.Unmarshal([]byte(body), &st); st.Version == 0 {
		t.Fatalf("/status: %s", body)
	}
}

// TestAdminAPIPurgesACache: a cached answer, purged through the Admin API,
// is fetched again.
func TestAdminAPIPurgesACache(t *testing.T) {
	up := startUpstream(t, "fresh", 0)
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	os.WriteFile(file, []byte(fmt.Sprintf(`listen: %s
workers: 1
admin: {listen: %s}
shared_dicts: {cache: 1MiB}
upstreams: [{name: up, targets: [{addr: %s}]}]
routes:
  - name: items
    match: {paths: ["/items"]}
    upstream: up
    policies: [{name: cache, config: {ttl: 1h, content_types: ["*"]}}]
`, freeport.Addr(t), freeport.Addr(t), up.addr)), 0o600)
	g := startAdminGateway(t, file)
	status := func() string {
		resp, err := http.Get("http://" + g.addr + "/items?id=1")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Cache-Status")
	}
	if a, b := status(), status(); a != "MISS" || b != "HIT" {
		t.Fatalf("before the purge: %s then %s", a, b)
	}
	hits := up.hits.Load()
	st, body, _ := g.call(t, "POST", "/routes/items/policies/cache/purge", "")
	if st != 200 || !strings.Contains(body, `"l1":1`) {
		t.Fatalf("purge: %d %s", st, body)
	}
	if s := status(); s != "MISS" || up.hits.Load() != hits+1 {
		t.Fatalf("after the purge: %s, upstream hits %d -> %d", s, hits, up.hits.Load())
	}
	st, body, _ = g.call(t, "POST", "/routes/items/policies/nope/purge", "")
	if st != 404 {
		t.Fatalf("an unknown policy: %d %s", st, body)
	}
	st, body, _ = g.call(t, "POST", "/routes/items/policies/cache/purge", `{"key": 5}`)
	if st != 400 {
		t.Fatalf("a bad body: %d %s", st, body)
	}
}

// TestEventLogFollowsLogLevel: log_level changed through the Admin API
// moves the event log's level at once; /status shows connections by state.
func TestEventLogFollowsLogLevel(t *testing.T) {
	up := startUpstream(t, "ok", 0)
	file := adminConfigFile(t, up.addr)
	data, _ := os.ReadFile(file)
	os.WriteFile(file, []byte(strings.Replace(string(data), "workers: 2\n", "workers: 2\nlog_level: error\n", 1)), 0o600)
	g := startAdminGateway(t, file)
	put := func(path string) {
		t.Helper()
		if st, body, _ := g.call(t, "PUT", "/routes/"+path, fmt.Sprintf(`{"match": {"paths": ["/%s"]}, "upstream": "up"}`, path)); st != 201 {
			t.Fatalf("%d %s", st, body)
		}
	}
	put("quiet")
	if strings.Contains(g.stderr.String(), "PUT /routes/quiet") {
		t.Fatal("an INFO line at log_level: error")
	}
	_, cfg, _ := g.call(t, "GET", "/config", "")
	cfg = strings.Replace(cfg, `"log_level":"error"`, `"log_level":"info"`, 1)
	st, body, _ := g.call(t, "PUT", "/config", cfg)
	if st != 200 || !strings.Contains(body, "log_level") {
		t.Fatalf("PUT /config: %d %s", st, body)
	}
	put("loud")
	eventually(t, 5*time.Second, func() string {
		if !strings.Contains(g.stderr.String(), "PUT /routes/loud") {
			return "no INFO line after log_level: info"
		}
		return ""
	})
	_, status, _ := g.call(t, "GET", "/status", "")
	if !strings.Contains(status, `"client_conns_by_state"`) || !strings.Contains(status, `"reading"`) {
		t.Fatalf("/status: %s", status)
	}
}
