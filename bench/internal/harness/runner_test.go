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

// TestRunnerPolicyCellsEndToEnd runs the auth, redislimit, cache and
// aggregate scenarios for a second each with a freshly built Sluice and
// every peer, and requires that each peer passed its functional check (no
// warning) and answered without errors, so a config that stops doing the
// compared work fails here and not in a long bench run.
func TestRunnerPolicyCellsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx, redis-server, varnishd, Sluice and wrk")
	}
	for _, tool := range []string{"nginx", "wrk", "redis-server", "varnishd"} {
		requireTool(t, tool)
	}
	requireFile(t, "/usr/share/nginx/modules/ngx_http_lua_module.so", "libnginx-mod-http-lua")
	requireFile(t, "/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so", "lua-cjson")
	sluice := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", sluice, "github.com/sluice-gw/sluice/cmd/sluice").CombinedOutput(); err != nil {
		t.Fatalf("building sluice: %v\n%s", err, out)
	}
	rep := runCleanCells(t, Config{
		Rounds: 1, Duration: time.Second, Scenarios: []string{"auth", "redislimit", "cache", "aggregate"},
		Conns: []int{4}, WrkThreads: 1, SluiceBin: sluice,
	}, map[string][]string{
		"auth": {"sluice", "nginx+lua"}, "redislimit": {"sluice", "nginx+lua"},
		"cache": {"sluice", "nginx", "varnish"}, "aggregate": {"sluice", "nginx+lua"},
	})
	for _, c := range rep.Cells {
		for _, p := range c.Peers {
			if c.Scenario == "redislimit" && p.RedisPerReq <= 0 {
				t.Fatalf("redislimit %s: no redis-server CPU measured", p.Peer)
			}
		}
	}
}

// runCleanCells runs cfg's scenarios and fails the test unless the run
// had no skipped peer and no warning (every functional check passed) and
// each scenario made one cell whose peers are want's, in order, each with
// requests and no error.
func runCleanCells(t *testing.T, cfg Config, want map[string][]string) *Report {
	t.Helper()
	var log bytes.Buffer
	cfg.Log = &log
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := r.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	if len(rep.Skipped) != 0 || len(rep.Warnings) != 0 {
		t.Fatalf("skipped %v, warnings %v\nlog:\n%s", rep.Skipped, rep.Warnings, log.String())
	}
	if len(rep.Cells) != len(want) {
		t.Fatalf("%d cells, want %d", len(rep.Cells), len(want))
	}
	for _, c := range rep.Cells {
		if len(c.Peers) != len(want[c.Scenario]) {
			t.Fatalf("%s: %d peers, want %v", c.Scenario, len(c.Peers), want[c.Scenario])
		}
		for i, p := range c.Peers {
			if p.Peer != want[c.Scenario][i] || p.Requests == 0 || p.Errors != 0 {
				t.Fatalf("%s: peer %s: %d requests, %d errors", c.Scenario, p.Peer, p.Requests, p.Errors)
			}
		}
	}
	return rep
}

// TestRunnerObsCellsEndToEnd runs the obs and scrape scenarios briefly with
// a freshly built Sluice and poller (20 routes instead of 10,000), and
// requires that their checks passed: JSON lines in the obs peer's access
// log, /metrics answering, every route × code warmed and counted, and the
// scraper's and control's fetches read back from every run beside them.
func TestRunnerObsCellsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx, Sluice, wrk and the poller")
	}
	for _, tool := range []string{"nginx", "wrk"} {
		requireTool(t, tool)
	}
	bin := t.TempDir()
	for _, pkg := range []string{"cmd/sluice", "bench/cmd/poller"} {
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluice-gw/sluice/"+pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	rep := runCleanCells(t, Config{
		Rounds: 1, Duration: 2 * time.Second, Scenarios: []string{"obs", "scrape"}, Conns: []int{4}, WrkThreads: 1,
		ScrapeRoutes: 20, SluiceBin: filepath.Join(bin, "sluice"), PollerBin: filepath.Join(bin, "poller"),
	}, map[string][]string{"obs": {"sluice", obsPeer}, "scrape": {"sluice", scrapePeer, scrapeControlPeer}})
	for _, c := range rep.Cells {
		for i, p := range c.Peers {
			if beside := p.Runs[0].Beside; (beside != nil) != (i > 0 && c.Scenario == "scrape") {
				t.Fatalf("%s: peer %s: beside %+v", c.Scenario, p.Peer, beside)
			}
			if st := scrapeStats(p.Runs); st.Failed != 0 {
				t.Fatalf("%s: peer %s: %d of %d fetches failed: %+v", c.Scenario, p.Peer, st.Failed, st.Fetches, p.Runs[0].Beside)
			}
		}
	}
	if s := rep.Cells[1].Scrape; s == nil || s.Series != 20*len(scrapeCodes) || s.WarmMismatches != 0 || s.GzipBytes == 0 || s.GzipBytes >= s.Bytes {
		t.Fatalf("scrape set-up: %+v", s)
	}
}

// TestRunnerScrapeWindowsEndToEnd runs the scrape scenario's open loop
// briefly (20 routes, 3 s runs): the windowed peer is there, its runs
// split the requests between even and odd windows, and the poller beside
// it fetched in windows of its own, without a failure.
func TestRunnerScrapeWindowsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx, Sluice, rateload and the poller")
	}
	requireTool(t, "nginx")
	bin := t.TempDir()
	for _, pkg := range []string{"cmd/sluice", "bench/cmd/poller", "bench/cmd/rateload"} {
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/sluice-gw/sluice/"+pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
	rep := runCleanCells(t, Config{
		Rounds: 1, Duration: 3 * time.Second, Scenarios: []string{"scrape"}, Conns: []int{4}, WrkThreads: 1,
		ScrapeRoutes: 20, ScrapeRate: 2000, SluiceBin: filepath.Join(bin, "sluice"), PollerBin: filepath.Join(bin, "poller"),
		RateloadBin: filepath.Join(bin, "rateload"),
	}, map[string][]string{"scrape": {"sluice", scrapePeer, scrapeControlPeer, scrapeWindowsPeer}})
	p := rep.Cells[0].Peer(scrapeWindowsPeer)
	run := p.Runs[0]
	if w := run.Windows; w == nil || w.EvenRequests == 0 || w.OddRequests == 0 || w.EvenRequests+w.OddRequests != run.Requests {
		t.Fatalf("windows %+v of %d requests", w, run.Requests)
	}
	if run.Beside == nil || len(run.Beside.Fetches) == 0 {
		t.Fatalf("the windowed poller fetched nothing: %+v", run.Beside)
	}
	for _, f := range run.Beside.Fetches {
		if !f.OK() || (f.Window != "even" && f.Window != "odd") || (f.Window == "even") != (f.Encoding == "gzip") {
			t.Fatalf("fetch %+v: the scrape (gzip) in even windows, the control (the upstream, identity) in odd ones, all answered", f)
		}
	}
	if _, ok := windowsDiff(p); !ok {
		t.Fatal("no windows to compare")
	}
}
