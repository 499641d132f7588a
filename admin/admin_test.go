package admin_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sluice-gw/sluice/admin"
)

const trafficYAML = `listen: "{listen}"
workers: 2
shared_dicts: { limits: 1m }
upstreams:
  - name: backend
    targets: [ { addr: "{upstream}" } ]
routes:
  - name: api
    match: { paths: ["/api/*"] }
    upstream: backend
`

type fakeLog struct{ lines, dropped uint64 }

func (f fakeLog) Lines() uint64   { return f.lines }
func (f fakeLog) Dropped() uint64 { return f.dropped }

// TestMetricsAfterTraffic checks that /metrics counts what was sent: by
// route and code, by upstream, the histograms, the targets and the dicts,
// and that Prometheus' parser and promtool accept the scrape.
func TestMetricsAfterTraffic(t *testing.T) {
	srv, addr := startEngine(t, trafficYAML)
	_, adminAddr := startAdmin(t, admin.Options{Engine: srv, AccessLog: fakeLog{7, 3}})
	const ok, missing = 20, 5
	for i := range ok + missing {
		path := "/api/x"
		if i >= ok {
			path = "/nope"
		}
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The worker counts a request after its response was queued: wait
	// until the last one is counted.
	var scrape []byte
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; {
		scrape = get(t, "http://"+adminAddr+"/metrics")
		fams = parseMetrics(t, scrape)
		if n, _ := metricValue(fams, "sluice_requests_total"); n == ok+missing {
			if h := fams["sluice_request_duration_seconds"]; h != nil && h.GetMetric()[0].GetHistogram().GetSampleCount() == ok+missing {
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_requests_total", nil, ok + missing},
		{"sluice_route_requests_total", []string{"route", "api", "code", "200"}, ok},
		{"sluice_route_requests_total", []string{"route", "(none)", "code", "404"}, missing},
		{"sluice_upstream_requests_total", []string{"upstream", "backend", "code", "200"}, ok},
		{"sluice_responses_total", []string{"class", "2xx"}, ok},
		{"sluice_responses_total", []string{"class", "4xx"}, missing},
		{"sluice_upstream_target_health", []string{"upstream", "backend", "state", "healthy"}, 1},
		{"sluice_upstream_target_health", []string{"upstream", "backend", "state", "down"}, 0},
		{"sluice_upstream_target_requests_total", []string{"upstream", "backend"}, ok},
		{"sluice_upstream_targets", []string{"upstream", "backend", "state", "healthy"}, 1},
		{"sluice_shared_dict_capacity_bytes", []string{"dict", "limits"}, 1 << 20},
		{"sluice_shared_dict_entries", []string{"dict", "limits"}, 0},
		{"sluice_access_log_lines_total", nil, 7},
		{"sluice_access_log_dropped_total", nil, 3},
		{"sluice_config_version", nil, float64(srv.Snapshot().Version)},
		{"sluice_workers", nil, 2},
		{"sluice_metrics_dropped_writes_total", nil, 0},
		{"sluice_build_info", []string{"version", "devel"}, 1},
	}
	for _, c := range checks {
		got, found := metricValue(fams, c.name, c.labels...)
		if !found || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, found, c.want)
		}
	}
	if got, _ := metricValue(fams, "sluice_received_bytes_total"); got < 25*20 {
		t.Errorf("sluice_received_bytes_total = %v, want at least 25 heads", got)
	}
	if got, _ := metricValue(fams, "sluice_sent_body_bytes_total"); got < float64(ok*len("hello")) {
		t.Errorf("sluice_sent_body_bytes_total = %v, want at least %d", got, ok*len("hello"))
	}

	for _, h := range []struct {
		name  string
		count uint64
	}{{"sluice_request_duration_seconds", ok + missing}, {"sluice_upstream_duration_seconds", ok}, {"sluice_gateway_duration_seconds", ok + missing}} {
		f := fams[h.name]
		if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].Histogram == nil {
			t.Errorf("%s: no histogram", h.name)
			continue
		}
		hist := f.GetMetric()[0].Histogram
		if hist.GetSampleCount() != h.count {
			t.Errorf("%s count = %d, want %d", h.name, hist.GetSampleCount(), h.count)
		}
		prev := uint64(0)
		for _, b := range hist.GetBucket() {
			if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > hist.GetSampleCount() {
				t.Errorf("%s: bucket le=%v count %d not cumulative", h.name, b.GetUpperBound(), b.GetCumulativeCount())
			}
			prev = b.GetCumulativeCount()
		}
		// The gateway's own time may sum to 0: the worker's clock moves
		// once per event, and a request without policy I/O is routed and
		// sent upstream within one event.
		if len(hist.GetBucket()) == 0 || math.IsNaN(hist.GetSampleSum()) || hist.GetSampleSum() < 0 ||
			h.name != "sluice_gateway_duration_seconds" && hist.GetSampleSum() <= 0 {
			t.Errorf("%s: buckets %d, sum %v", h.name, len(hist.GetBucket()), hist.GetSampleSum())
		}
	}
	for name := range fams {
		if !strings.HasPrefix(name, "sluice_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("metric %s lacks the sluice_ prefix", name)
		}
	}
	promtool(t, scrape)
}

// TestCountersMoveBetweenScrapes checks that a second scrape sees the
// requests made after the first (the collector reuses its snapshot).
func TestCountersMoveBetweenScrapes(t *testing.T) {
	srv, addr := startEngine(t, trafficYAML)
	_, adminAddr := startAdmin(t, admin.Options{Engine: srv, NoRuntimeMetrics: true})
	for round := 1; round <= 3; round++ {
		resp, err := http.Get("http://" + addr + "/api/r")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The worker counts a request after its response was queued: the
		// client may read it first, so wait for the count.
		deadline := time.Now().Add(5 * time.Second)
		for {
			fams := parseMetrics(t, get(t, "http://"+adminAddr+"/metrics"))
			got, _ := metricValue(fams, "sluice_route_requests_total", "route", "api", "code", "200")
			if got == float64(round) {
				break
			}
			if got > float64(round) || time.Now().After(deadline) {
				t.Fatalf("scrape %d: route api 200 = %v, want %d", round, got, round)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func TestStatusAndUpstreams(t *testing.T) {
	srv, addr := startEngine(t, trafficYAML)
	_, adminAddr := startAdmin(t, admin.Options{Engine: srv})
	resp, err := http.Get("http://" + addr + "/api/s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if body := string(get(t, "http://"+adminAddr+"/status")); !strings.Contains(body, `"requests": 1`) || !strings.Contains(body, `"log_lines_dropped": 0`) {
		t.Errorf("/status:\n%s", body)
	}
	if body := string(get(t, "http://"+adminAddr+"/status/upstreams")); !strings.Contains(body, `"name": "backend"`) || !strings.Contains(body, `"state": "healthy"`) {
		t.Errorf("/status/upstreams:\n%s", body)
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	srv, _ := startEngine(t, trafficYAML)
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:9901"} {
		if err := admin.New(admin.Options{Engine: srv}).Listen(addr); !errors.Is(err, admin.ErrNotLoopback) {
			t.Errorf("Listen(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		a := admin.New(admin.Options{Engine: srv})
		err := a.Listen(addr)
		if err != nil && !strings.Contains(err.Error(), "cannot assign") { // ::1 may be absent
			t.Errorf("Listen(%q) = %v", addr, err)
		}
		a.Close()
	}
	a := admin.New(admin.Options{Engine: srv, AllowRemote: true})
	if err := a.Listen("0.0.0.0:0"); err != nil {
		t.Errorf("AllowRemote: Listen(0.0.0.0:0) = %v", err)
	}
	a.Close()
}

func TestHandlerRefusesRemotePeers(t *testing.T) {
	srv, _ := startEngine(t, trafficYAML)
	for _, tc := range []struct {
		remote      string
		allowRemote bool
		want        int
	}{
		{"127.0.0.1:5555", false, 200},
		{"[::1]:5555", false, 200},
		{"10.1.2.3:5555", false, 403},
		{"10.1.2.3:5555", true, 200},
	} {
		h := admin.New(admin.Options{Engine: srv, AllowRemote: tc.allowRemote}).Handler()
		req := httptest.NewRequest("GET", "/status", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("peer %s allow_remote=%v: %d, want %d", tc.remote, tc.allowRemote, rec.Code, tc.want)
		}
	}
}

// TestMuxIsExtensible pins what the Admin API relies on: routes added to
// Mux are served behind the same peer check.
func TestMuxIsExtensible(t *testing.T) {
	srv, _ := startEngine(t, trafficYAML)
	a, adminAddr := startAdmin(t, admin.Options{Engine: srv})
	a.Mux().HandleFunc("GET /api/ping", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "pong") })
	if body := string(get(t, "http://"+adminAddr+"/api/ping")); body != "pong" {
		t.Errorf("/api/ping = %q", body)
	}
}

// TestScrapeOf50000Series checks that a scrape of 10,000 routes × 5
// codes exposes every series and takes well under the 100 ms
// (measured by BenchmarkScrape; this only guards against a regression by
// an order of magnitude, since CI machines vary).
func TestScrapeOf50000Series(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles 10,000 routes")
	}
	srv := manyRoutes(t, 10000)
	a := admin.New(admin.Options{Engine: srv, NoRuntimeMetrics: true})
	var rec *httptest.ResponseRecorder
	var took time.Duration
	for range 2 { // the first scrape grows the buffers; time the second
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = "127.0.0.1:1"
		rec = httptest.NewRecorder()
		start := time.Now()
		a.Handler().ServeHTTP(rec, req)
		took = time.Since(start)
	}
	fams := parseMetrics(t, rec.Body.Bytes())
	// The series registry is the process's: names other tests used count
	// against the 10,000 cap, and the last routes may share (overflow).
	routes := 0
	for _, m := range fams["sluice_route_requests_total"].GetMetric() {
		if hasLabels(m, []string{"route", "route-9"}) || strings.HasPrefix(labelValue(m, "route"), "route-") {
			routes++
		}
	}
	if routes < 49900 || routes > 50000 {
		t.Errorf("%d route series, want 50000 less the overflow", routes)
	}
	t.Logf("scrape of 50,000 route series: %v, %d bytes", took, rec.Body.Len())
	if took > time.Second && !raceEnabled {
		t.Errorf("scrape took %v", took)
	}
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestReloadOutcomesAreExposed(t *testing.T) {
	srv, _ := startEngine(t, trafficYAML)
	a, adminAddr := startAdmin(t, admin.Options{Engine: srv, NoRuntimeMetrics: true})
	var none *admin.Server
	none.ReloadDone(nil) // a gateway without an admin listener calls it too
	before := float64(time.Now().Unix())
	a.ReloadDone(nil)
	a.ReloadDone(errors.New("bad config"))
	a.ReloadDone(nil)
	fams := parseMetrics(t, get(t, "http://"+adminAddr+"/metrics"))
	for _, c := range []struct {
		name, result string
		min, max     float64
	}{
		{"sluice_config_reloads_total", "success", 2, 2},
		{"sluice_config_reloads_total", "failure", 1, 1},
		{"sluice_config_last_reload_timestamp_seconds", "success", before, before + 60},
		{"sluice_config_last_reload_timestamp_seconds", "failure", before, before + 60},
	} {
		if v, ok := metricValue(fams, c.name, "result", c.result); !ok || v < c.min || v > c.max {
			t.Errorf("%s{result=%s} = %v (found %v), want %v..%v", c.name, c.result, v, ok, c.min, c.max)
		}
	}
}

// TestScrapeGzipAndPlain: a scrape answers plain text or gzip as asked,
// with its length, and the buffers reused from scrape to scrape give the
// same families each time.
func TestScrapeGzipAndPlain(t *testing.T) {
	srv, _ := startEngine(t, trafficYAML)
	_, adminAddr := startAdmin(t, admin.Options{Engine: srv})
	var families []int
	for _, enc := range []string{"gzip", "identity", "gzip", "identity"} {
		req, _ := http.NewRequest("GET", "http://"+adminAddr+"/metrics", nil)
		req.Header.Set("Accept-Encoding", enc) // set by hand: the Transport does not unzip
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.ContentLength != int64(len(body)) {
			t.Fatalf("%s: %v, Content-Length %d for %d bytes", enc, err, resp.ContentLength, len(body))
		}
		if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != (enc == "gzip") {
			t.Fatalf("asked %s, got Content-Encoding %q", enc, got)
		}
		if enc == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		families = append(families, len(parseMetrics(t, body)))
	}
	for _, n := range families[1:] {
		if n != families[0] {
			t.Errorf("families per scrape: %v", families)
		}
	}
}
