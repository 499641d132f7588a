package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// scrapeCodes are the statuses the upstream answers on /code/NNN
// (conf/upstream.nginx.conf.tmpl); each has its own code label in
// sluice_route_requests_total. No 5xx: they would feed outlier detection.
var scrapeCodes = []int{200, 201, 204, 403, 404}

// scrapeEvery is the scraper's and the control's interval, and
// scrapeWindow the width of the windowed peer's windows: a scrape at the
// start of every other one.
const (
	scrapeEvery  = time.Second
	scrapeWindow = time.Second
)

// ScrapeCheck is what the scrape scenario established before measuring.
type ScrapeCheck struct {
	Routes         int   `json:"routes"`          // the config's routes, the catch-all included
	WarmRequests   int   `json:"warm_requests"`   // one per route and code
	WarmMismatches int   `json:"warm_mismatches"` // of those, failed or with another status
	Series         int   `json:"route_series"`    // sluice_route_requests_total samples in a scrape
	Bytes          int64 `json:"bytes"`           // a scrape without compression
	GzipBytes      int64 `json:"gzip_bytes"`      // with Accept-Encoding: gzip
	// IdleWallMicros and IdleGzipWallMicros are scrapes with no traffic,
	// from the harness (a new connection each): the floor the scrapes
	// under traffic compare with.
	IdleWallMicros     []int64 `json:"idle_wall_us"`
	IdleGzipWallMicros []int64 `json:"idle_gzip_wall_us"`
}

// runScrape is issue 11's second bar: a scrape of 10,000 routes × 5
// status codes takes at most 100 ms and does not move the p99 of the
// traffic beside it. One Sluice with ScrapeRoutes routes, every route
// warmed with every code; wrk on the catch-all route with nothing beside
// it, with the scraper fetching /metrics every second, and with the
// control fetching the upstream every second (so the scrape's effect is
// told apart from a second client's on wrk's CPU), alternated; with an
// open loop, also with both in one run, each in windows of its own.
func (r *Runner) runScrape(ctx context.Context) (*Cell, error) {
	base, err := r.startPeer(ctx, kindSluiceScrape, "/", nil)
	if err != nil || base == nil {
		return nil, err
	}
	defer r.stopPeer(base)
	check, problems := r.prepareScrape(ctx, base)
	for _, p := range problems {
		r.warnf("scrape: %s", p)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r.logf("   scrape: %d routes, %d route series, %d bytes (%d gzip)", check.Routes, check.Series, check.Bytes, check.GzipBytes)

	scraper, control := *base, *base
	scraper.Name = "sluice + scraper"
	scraper.Beside = &BesideClient{Name: "scraper", URL: base.AdminURL + "/metrics", Every: scrapeEvery}
	control.Name = "sluice + control"
	control.Beside = &BesideClient{Name: "control", URL: fmt.Sprintf("http://127.0.0.1:%d/", r.upPort), Every: scrapeEvery}
	peers := []*Peer{base, &scraper, &control}
	// With an open loop, a fourth peer compares within each run: the
	// scrape in even windows, the control in odd ones, the requests split
	// by the window they were due in. Separate runs differ by the
	// machine's drift (a p99 of under a millisecond moved by ±1 ms from
	// one run to the next here), which this cancels.
	if r.cfg.ScrapeRate > 0 {
		windows := *base
		windows.Name = scrapeWindowsPeer
		windows.Beside = &BesideClient{Name: "windows", URL: scraper.Beside.URL, OddURL: control.Beside.URL, Window: scrapeWindow}
		peers = append(peers, &windows)
	}

	script, err := WrkScript(r.dir, "scrape.lua", []string{"/"}, nil)
	if err != nil {
		return nil, err
	}
	conns := r.cfg.Conns[0]
	load := fmt.Sprintf("%d conns", conns)
	if r.cfg.ScrapeRate > 0 {
		load = fmt.Sprintf("%d conns, open loop at %.0f req/s", conns, r.cfg.ScrapeRate)
	}
	cell := &Cell{Scenario: "scrape", Name: fmt.Sprintf("%d routes × %d codes, traffic on the catch-all, %s body, %s", check.Routes, len(scrapeCodes), bodyLabels["13"], load),
		Conns: conns, Body: "13", Reference: "sluice", Scrape: &check}
	spec := WrkSpec{Conns: conns, Threads: r.cfg.WrkThreads, Duration: r.cfg.Duration, Script: script, CPUs: r.cfg.LoadCPUs,
		Rate: r.cfg.ScrapeRate, RateBin: r.cfg.RateloadBin}
	if r.cfg.ScrapeRate > 0 {
		spec.Windows = scrapeWindow // every peer's runs: only the windowed peer's are read
	}
	_, err = r.runCell(ctx, cell, peers, "/", spec)
	return cell, err
}

// prepareScrape sends every route of the scrape config each code once,
// then scrapes /metrics with and without gzip to count the route series
// and measure the idle scrape. It returns what went wrong as problems:
// the cell is still measured, and says so.
func (r *Runner) prepareScrape(ctx context.Context, p *Peer) (ScrapeCheck, []string) {
	n := r.cfg.ScrapeRoutes
	check := ScrapeCheck{Routes: n}
	var problems []string
	// The catch-all (/code/NNN) and the prefix routes (/rI/code/NNN, the
	// prefix stripped on the way upstream).
	var paths []string
	for i := -1; i < n-1; i++ {
		prefix := ""
		if i >= 0 {
			prefix = "/r" + strconv.Itoa(i)
		}
		for _, c := range scrapeCodes {
			paths = append(paths, prefix+"/code/"+strconv.Itoa(c))
		}
	}
	start := time.Now()
	check.WarmRequests = len(paths)
	mismatches, example := warmPaths(ctx, p.URL(""), paths, 8)
	check.WarmMismatches = mismatches
	if mismatches > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d warm-up requests failed or got another status (%s)", mismatches, len(paths), example))
	}
	r.logf("   scrape: warmed %d routes × %d codes in %s", n, len(scrapeCodes), time.Since(start).Round(time.Millisecond))

	url := p.AdminURL + "/metrics"
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		body, _, err := httpGet(url, nil)
		if err != nil {
			return check, append(problems, fmt.Sprintf("/metrics: %v", err))
		}
		check.IdleWallMicros = append(check.IdleWallMicros, time.Since(t0).Microseconds())
		check.Bytes = int64(len(body))
		check.Series = CountSeries(body, "sluice_route_requests_total")

		t0 = time.Now()
		zipped, h, err := httpGet(url, map[string]string{"Accept-Encoding": "gzip"})
		if err != nil {
			return check, append(problems, fmt.Sprintf("/metrics with gzip: %v", err))
		}
		check.IdleGzipWallMicros = append(check.IdleGzipWallMicros, time.Since(t0).Microseconds())
		check.GzipBytes = int64(len(zipped))
		if h.Get("Content-Encoding") != "gzip" {
			problems = append(problems, fmt.Sprintf("/metrics with Accept-Encoding: gzip answered Content-Encoding %q", h.Get("Content-Encoding")))
		}
	}
	if want := n * len(scrapeCodes); check.Series < want {
		problems = append(problems, fmt.Sprintf("a scrape has %d sluice_route_requests_total series, want at least %d", check.Series, want))
	}
	return check, problems
}

// warmPaths GETs every path once over conns kept-alive connections and
// checks each status against the path's last segment (/code/201: 201).
// It returns how many did not match and one example.
func warmPaths(ctx context.Context, base string, paths []string, conns int) (int, string) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: conns}}
	defer client.CloseIdleConnections()
	var next, bad atomic.Int64
	var example atomic.Value
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(paths) {
					return
				}
				path := paths[i]
				want, _ := strconv.Atoi(path[len(path)-3:])
				status, err := getStatus(ctx, client, base+path)
				if err != nil || status != want {
					bad.Add(1)
					example.CompareAndSwap(nil, fmt.Sprintf("%s: status %d, err %v", path, status, err))
				}
			}
		}()
	}
	wg.Wait()
	ex, _ := example.Load().(string)
	return int(bad.Load()), ex
}

// getStatus GETs url, reads the whole body (so the connection is reused)
// and returns the status.
func getStatus(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// CountSeries counts the samples of one family in a Prometheus text
// exposition: lines starting with the name followed by '{' or ' '
// (comments and other families, a _bucket suffix included, do not count).
func CountSeries(body []byte, family string) int {
	n := 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(line) > len(family) && string(line[:len(family)]) == family && (line[len(family)] == '{' || line[len(family)] == ' ') {
			n++
		}
	}
	return n
}
