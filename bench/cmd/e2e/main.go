// Command e2e is the end-to-end benchmark behind `make bench`: it starts an
// upstream nginx and each proxy in turn (Sluice, nginx, HAProxy, a Go
// httputil.ReverseProxy; nginx+lua, nginx's proxy_cache and Varnish for the
// gateway, auth, redislimit, cache and aggregate scenarios; Sluice against
// itself with metrics and a JSON access log, and beside a scraper, in the
// obs and scrape scenarios) with one worker pinned to its own core, drives
// them with wrk, and reports requests/s, p50/p99 latency, CPU µs per
// request, RSS, upstream connections opened and every figure's ratio to
// nginx, as a markdown table on stdout and JSON plus markdown under -out.
//
//	e2e [-rounds 3] [-duration 5s] [-scenarios plain,gateway,auth,redislimit,cache,aggregate,obs,scrape,routes,idle] ...
//
// Run it through bench/run.sh, which installs nginx-light, haproxy, wrk,
// libnginx-mod-http-lua, lua-cjson, redis-server and varnish, raises the
// open-file limit and builds the peers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-gw/sluice/bench/internal/harness"
)

func main() {
	os.Exit(run())
}

func run() int {
	root := flag.String("root", ".", "repository root")
	out := flag.String("out", "bench/results", "directory for the JSON and markdown results")
	rounds := flag.Int("rounds", 3, "A B A B rounds per cell (medians over them)")
	duration := flag.Duration("duration", 5*time.Second, "one measured wrk run (whole seconds)")
	warmup := flag.Duration("warmup", time.Second, "unmeasured wrk run per peer and cell (0 for none)")
	scenarios := flag.String("scenarios", "plain,gateway,auth,redislimit,cache,aggregate,obs,scrape,routes,idle", "scenarios to run: plain, gateway, auth, redislimit, cache, aggregate, obs, scrape, routes, idle")
	proxies := flag.String("proxies", "sluice,nginx,haproxy,goproxy", "peers of the plain and idle scenarios")
	conns := flag.String("conns", "64,256", "plain: client connections, one cell each (the first is used by gateway and routes)")
	bodies := flag.String("bodies", "13,1k,64k", "plain: upstream body sizes: 13, 1k, 64k")
	proxyCPUs := flag.String("proxy-cpus", "0", "taskset CPU list of the proxy")
	loadCPUs := flag.String("load-cpus", "1", "taskset CPU list of wrk and the upstream")
	wrkThreads := flag.Int("wrk-threads", 1, "wrk threads")
	idle := flag.Int("idle-conns", 10000, "idle: keep-alive connections held")
	routes := flag.Int("routes", 1000, "routes: number of prefix routes")
	scrapeRoutes := flag.Int("scrape-routes", 10000, "scrape: routes, the catch-all included, each warmed with 5 status codes (more than 10000 share Sluice's (overflow) series)")
	scrapeRate := flag.Float64("scrape-rate", 0, "scrape: send the traffic as an open loop at this many requests a second (bench/cmd/rateload) instead of wrk's saturating closed loop; 0 for wrk")
	strace := flag.Bool("strace", false, "also count syscalls per request under strace -c (plain's first cell; the auth, redislimit, cache and aggregate cells)")
	straceFor := flag.Duration("strace-duration", 3*time.Second, "the traced wrk run")
	sluice := flag.String("sluice", "bin/sluice", "Sluice binary (relative to -root); skipped if missing or not starting")
	goproxy := flag.String("goproxy", "bench/tmp/bin/goproxy", "goproxy binary (relative to -root)")
	idleBin := flag.String("idleconns", "bench/tmp/bin/idleconns", "idleconns binary (relative to -root)")
	rateload := flag.String("rateload", "bench/tmp/bin/rateload", "rateload binary (relative to -root): the open loop of -scrape-rate")
	poller := flag.String("poller", "bench/tmp/bin/poller", "poller binary (relative to -root): the scrape scenario's scraper and control")
	oneLiner := flag.Bool("sluice-oneliner", false, "plain/idle: run `sluice proxy --listen --to` instead of a bench config (keeps Sluice's default max_requests 1000)")
	unavailable := flag.String("sluice-unavailable", "", "skip Sluice with this reason (run.sh sets it when make build fails)")
	keepTmp := flag.Bool("keep-tmp", false, "keep the temp dir with every rendered config and log")
	flag.Parse()

	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		a, err := filepath.Abs(filepath.Join(*root, p))
		if err != nil {
			return p
		}
		return a
	}
	connList, err := parseInts(*conns)
	if err != nil || len(connList) == 0 {
		fmt.Fprintf(os.Stderr, "e2e: -conns %q: %v\n", *conns, err)
		return 2
	}
	cfg := harness.Config{
		Root: abs("."), OutDir: abs(*out),
		Rounds: max(1, *rounds), Duration: *duration, Warmup: *warmup,
		Scenarios: split(*scenarios), Proxies: split(*proxies), Conns: connList, Bodies: split(*bodies),
		ProxyCPUs: *proxyCPUs, LoadCPUs: *loadCPUs, WrkThreads: *wrkThreads,
		IdleConns: *idle, Routes: max(1, *routes), ScrapeRoutes: max(1, *scrapeRoutes), ScrapeRate: *scrapeRate, RateloadBin: abs(*rateload), Strace: *strace, StraceFor: *straceFor,
		SluiceBin: abs(*sluice), SluiceUnavailable: *unavailable, SluiceOneLiner: *oneLiner, GoproxyBin: abs(*goproxy), IdleBin: abs(*idleBin), PollerBin: abs(*poller),
		KeepTmp: *keepTmp, Log: os.Stderr,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	r, err := harness.NewRunner(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	// Every process the runner started is stopped here, on success, error
	// and Ctrl-C alike (the signal cancels ctx, the scenario returns).
	defer r.Close()
	if *keepTmp {
		fmt.Fprintf(os.Stderr, "e2e: configs and logs in %s\n", r.Dir())
	}

	rep, runErr := r.Run(ctx)
	code := 0
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", runErr)
		code = 1
	}
	if rep != nil && (len(rep.Cells) > 0 || len(rep.Idle) > 0) {
		rep.Markdown(os.Stdout)
		jsonPath, mdPath, err := rep.Write(cfg.OutDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: writing results: %v\n", err)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "e2e: results in %s and %s\n", jsonPath, mdPath)
		}
	}
	return code
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range split(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
