package main

import (
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

	"github.com/sluice-gw/sluice/internal/freeport"
)

// traceUpstream answers every request with the traceparent and tracestate
// it received, as "traceparent|tracestate".
func traceUpstream(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get("Traceparent"), r.Header.Get("Tracestate"))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// readLogLines waits until file holds at least n lines and returns them
// parsed.
func readLogLines(t *testing.T, file string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) > 0 && len(lines) >= n {
			out := make([]map[string]any, len(lines))
			for i, line := range lines {
				if err := json.Unmarshal([]byte(line), &out[i]); err != nil {
					t.Fatalf("line %d is not JSON: %v\n%s", i, err, line)
				}
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines, want %d:\n%s", file, len(lines), n, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func request(t *testing.T, url string, header map[string]string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "obs-test/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestAccessLogJSONAndTraceparent runs the binary with an admin section, a
// JSON access log in a file and trace.start: lines carry the fields, a
// valid traceparent passes unchanged with its tracestate, a missing or
// invalid one is started, the log has the trace id the upstream saw, the
// file is reopened on SIGUSR1, and /metrics serves the counts.
func TestAccessLogJSONAndTraceparent(t *testing.T) {
	dir := t.TempDir()
	up := traceUpstream(t)
	listen, adminAddr := freeport.Addr(t), freeport.Addr(t)
	logFile := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "sluice.yaml")
	cfg := fmt.Sprintf(`listen: %s
workers: 2
admin: { listen: %s }
access_log: { format: json, path: %s }
trace: { start: true }
upstreams:
  - name: up
    targets: [ { addr: %s } ]
routes:
  - name: traced
    match: { paths: ["/*"] }
    upstream: up
`, listen, adminAddr, logFile, up)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "-c", cfgFile)
	p.addr = listen
	p.waitReady(t)

	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	seen := []string{
		request(t, "http://"+listen+"/kept?x=1", map[string]string{"traceparent": incoming, "tracestate": "vendor=abc"}),
		request(t, "http://"+listen+"/started", nil),
		request(t, "http://"+listen+"/invalid", map[string]string{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "tracestate": "stale=1"}),
	}
	if seen[0] != incoming+"|vendor=abc" {
		t.Errorf("a valid traceparent reached the upstream as %q", seen[0])
	}
	for i, s := range seen[1:] {
		tp, state, _ := strings.Cut(s, "|")
		if len(tp) != 55 || !strings.HasPrefix(tp, "00-") || strings.HasSuffix(tp, "-01") || tp[3:35] == strings.Repeat("0", 32) || state != "" {
			t.Errorf("request %d: the upstream saw traceparent %q tracestate %q, want a started one without tracestate", i+1, tp, state)
		}
	}
	if seen[1][3:35] == seen[2][3:35] {
		t.Errorf("two requests got one trace id %s", seen[1][3:35])
	}

	lines := readLogLines(t, logFile, 3)
	byPath := map[string]map[string]any{}
	for _, l := range lines {
		byPath[l["path"].(string)] = l
	}
	kept := byPath["/kept"]
	if kept == nil {
		t.Fatalf("no line for /kept: %v", lines)
	}
	for k, want := range map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "status": 200.0, "query": "x=1",
		"method": "GET", "route": "traced", "upstream": "up", "upstream_addr": up, "tries": 1.0,
		"user_agent": "obs-test/1.0", "client_ip": "127.0.0.1", "protocol": "HTTP/1.1", "failure": ""} {
		if kept[k] != want {
			t.Errorf("/kept %s = %#v, want %#v", k, kept[k], want)
		}
	}
	if kept["bytes_in"].(float64) < 50 || kept["bytes_out"].(float64) != float64(len(seen[0])) || kept["request_id"] == "" {
		t.Errorf("/kept: %v", kept)
	}
	if _, ok := kept["upstream_ms"].(float64); !ok {
		t.Errorf("/kept upstream_ms = %#v", kept["upstream_ms"])
	}
	for i, path := range []string{"/started", "/invalid"} {
		if got := byPath[path]["trace_id"]; got != seen[i+1][3:35] {
			t.Errorf("%s: logged trace_id %v, the upstream saw %s", path, got, seen[i+1][3:35])
		}
	}

	// logrotate: move the file away, SIGUSR1, and the next lines go to a
	// new file of the same name.
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	started := 2 // /started and /invalid
	for {
		request(t, "http://"+listen+"/after-rotate", nil)
		started++
		if _, err := os.Stat(logFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGUSR1 did not reopen the access log")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rotated := readLogLines(t, logFile+".1", 3); len(rotated) < 3 {
		t.Errorf("rotated file has %d lines", len(rotated))
	}

	body, err := get(http.DefaultClient, "http://"+adminAddr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`sluice_route_requests_total{route="traced",code="200"}`, fmt.Sprintf("sluice_traces_started_total %d", started), "sluice_access_log_dropped_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestTraceStartOff: without trace.start a request goes upstream as it
// came (no traceparent is added) and its log line has an empty trace id.
func TestTraceStartOff(t *testing.T) {
	dir := t.TempDir()
	up := traceUpstream(t)
	listen := freeport.Addr(t)
	logFile := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "sluice.yaml")
	cfg := fmt.Sprintf("listen: %s\nworkers: 1\naccess_log: { path: %s }\nupstreams:\n  - name: up\n    targets: [ { addr: %s } ]\nroutes:\n  - match: { paths: [\"/*\"] }\n    upstream: up\n", listen, logFile, up)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "-c", cfgFile)
	p.addr = listen
	p.waitReady(t)
	if got := request(t, "http://"+listen+"/plain", nil); got != "|" {
		t.Errorf("the upstream saw %q, want no trace fields", got)
	}
	if l := readLogLines(t, logFile, 1)[0]; l["trace_id"] != "" || l["path"] != "/plain" {
		t.Errorf("line %v", l)
	}
}

// TestAdminListenerRefusesNonLoopback: a config asking for the admin
// listener on every interface is refused at validation, with the path.
func TestAdminListenerRefusesNonLoopback(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(file, []byte("admin: { listen: \"0.0.0.0:9901\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if code := run([]string{"validate", "-c", file}, &out); code == 0 || !strings.Contains(out.String(), "admin.listen") {
		t.Errorf("validate: exit %d\n%s", code, out.String())
	}
	var out2 lockedBuffer
	if code := run([]string{"proxy", "--listen", freeport.Addr(t), "--to", "127.0.0.1:1", "--status", "0.0.0.0:9901"}, &out2); code != 2 || !strings.Contains(out2.String(), "admin.listen") {
		t.Errorf("proxy --status 0.0.0.0: exit %d\n%s", code, out2.String())
	}
}

// TestReloadOutcomesInMetrics: SIGHUP with a refused file, then with a good
// one, shows in sluice_config_reloads_total and the config version.
func TestReloadOutcomesInMetrics(t *testing.T) {
	dir := t.TempDir()
	up := traceUpstream(t)
	listen, adminAddr := freeport.Addr(t), freeport.Addr(t)
	cfgFile := filepath.Join(dir, "sluice.yaml")
	good := fmt.Sprintf("listen: %s\nworkers: 1\nadmin: { listen: %s }\nupstreams:\n  - name: up\n    targets: [ { addr: %s } ]\nroutes:\n  - match: { paths: [\"/*\"] }\n    upstream: up\n", listen, adminAddr, up)
	if err := os.WriteFile(cfgFile, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "-c", cfgFile)
	p.addr = listen
	p.waitReady(t)
	waitMetric := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			body, _ := get(http.DefaultClient, "http://"+adminAddr+"/metrics")
			if strings.Contains(body, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("/metrics lacks %q", want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitMetric("sluice_config_version 1\n")
	if err := os.WriteFile(cfgFile, []byte("listen: [not an address\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(`sluice_config_reloads_total{result="failure"} 1`)
	if err := os.WriteFile(cfgFile, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitMetric(`sluice_config_reloads_total{result="success"} 1`)
	waitMetric("sluice_config_version 2\n")
}

// TestAccessLogFields runs the binary with access_log.fields: each line
// has those keys, in that order, and no other.
func TestAccessLogFields(t *testing.T) {
	dir := t.TempDir()
	up := traceUpstream(t)
	listen := freeport.Addr(t)
	logFile := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "sluice.yaml")
	cfg := fmt.Sprintf(`listen: %s
workers: 1
access_log: { format: json, path: %s, fields: [status, path, route, duration_ms] }
upstreams:
  - name: up
    targets: [ { addr: %s } ]
routes:
  - name: few
    match: { paths: ["/*"] }
    upstream: up
`, listen, logFile, up)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "-c", cfgFile)
	p.addr = listen
	p.waitReady(t)
	request(t, "http://"+listen+"/a?b=1", nil)
	lines := readLogLines(t, logFile, 1)
	if l := lines[0]; len(l) != 4 || l["status"] != 200.0 || l["path"] != "/a" || l["route"] != "few" {
		t.Fatalf("line: %v", l)
	}
	data, _ := os.ReadFile(logFile)
	if !strings.HasPrefix(string(data), `{"status":200,"path":"/a","route":"few","duration_ms":`) {
		t.Fatalf("keys not in the order given: %s", data)
	}
}
