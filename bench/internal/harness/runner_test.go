package harness

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunnerPlainEndToEnd runs the real harness for a few seconds: the
// upstream nginx, the goproxy peer, wrk, /proc and stub_status readings, a
// missing Sluice that must be skipped with its reason, and the report.
func TestRunnerPlainEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and wrk")
	}
	for _, tool := range []string{"nginx", "wrk"} {
		requireTool(t, tool)
	}
	bin := t.TempDir()
	goproxy := filepath.Join(bin, "goproxy")
	if out, err := exec.Command("go", "build", "-o", goproxy, "github.com/sluice-gw/sluice/bench/cmd/goproxy").CombinedOutput(); err != nil {
		t.Fatalf("building goproxy: %v\n%s", err, out)
	}
	var log bytes.Buffer
	r, err := NewRunner(Config{
		Rounds: 2, Duration: time.Second, Scenarios: []string{"plain"}, Proxies: []string{"sluice", "goproxy"},
		Conns: []int{4}, Bodies: []string{"1k"}, WrkThreads: 1, Routes: 10,
		SluiceBin: filepath.Join(bin, "no-sluice-here"), GoproxyBin: goproxy, Log: io.MultiWriter(&log),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	if why := rep.Skipped["sluice"]; !strings.Contains(why, "not built") {
		t.Fatalf("sluice skip reason %q", why)
	}
	if len(rep.Cells) != 1 || len(rep.Cells[0].Peers) != 1 {
		t.Fatalf("cells: %+v", rep.Cells)
	}
	p := rep.Cells[0].Peers[0]
	if p.Peer != "goproxy" || len(p.Runs) != 2 || p.Requests == 0 || p.Errors != 0 {
		t.Fatalf("goproxy result: %+v", p)
	}
	if p.CPUPerReq <= 0 || p.RSSBytes <= 0 || p.AllocsPerReq <= 0 {
		t.Fatalf("goproxy CPU %v µs/req, RSS %v, allocs %v: a /proc or expvar reading failed", p.CPUPerReq, p.RSSBytes, p.AllocsPerReq)
	}
	// 4 client connections need at most a handful of upstream ones.
	if p.UpstreamOpened < 0 || p.UpstreamOpened > 16 {
		t.Fatalf("upstream connections opened %d", p.UpstreamOpened)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "| goproxy | ") || !strings.Contains(md.String(), "not built") {
		t.Fatalf("markdown:\n%s", md.String())
	}
	dir := r.Dir()
	r.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s left behind", dir)
	}
}
