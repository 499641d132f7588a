package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// TestRouteLogOffAndEventLog runs the binary with a route whose log field
// is off beside one without: the access log has the other route's lines
// only, failures of the quiet route included; and the gateway's own
// messages on stderr are slog's text lines with their usual words.
func TestRouteLogOffAndEventLog(t *testing.T) {
	up := traceUpstream(t)
	listen := freeport.Addr(t)
	logFile := filepath.Join(t.TempDir(), "access.log")
	p := startWithConfig(t, listen, fmt.Sprintf(`listen: %s
workers: 1
access_log: { format: json, path: %s }
upstreams:
  - name: up
    targets: [ { addr: %s } ]
  - name: down
    targets: [ { addr: %s } ]
routes:
  - name: quiet
    match: { paths: ["/quiet/*"] }
    upstream: up
    log: { access: off }
  - name: quiet-failing
    match: { paths: ["/quiet-failing/*"] }
    upstream: down
    log: { access: off }
  - name: logged
    match: { paths: ["/*"] }
    upstream: up
`, listen, logFile, up, freeport.Addr(t)))
	// One worker writes its lines in order: once the logged route's lines
	// are there, the quiet routes' would be before them.
	for range 5 {
		request(t, "http://"+listen+"/quiet/x", nil)
		request(t, "http://"+listen+"/quiet-failing/x", nil) // 502: a failure, still not logged
	}
	const logged = 4
	for range logged {
		request(t, "http://"+listen+"/logged", nil)
	}
	lines := readLogLines(t, logFile, logged)
	if len(lines) != logged {
		t.Fatalf("%d lines, want %d: %v", len(lines), logged, lines)
	}
	for _, l := range lines {
		if l["route"] != "logged" {
			t.Errorf("a line of route %v", l["route"])
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), `level=INFO msg="listening on `+listen) {
		if time.Now().After(deadline) {
			t.Fatalf("no slog line for the start on stderr:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startWithConfig runs the binary with config cfg (in a file of its own)
// and waits until it answers on listen.
func startWithConfig(t *testing.T, listen, cfg string) *gatewayProcess {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, "-c", file)
	p.addr = listen
	p.waitReady(t)
	return p
}
