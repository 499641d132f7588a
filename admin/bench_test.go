package admin_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/stats"
)

// manyRoutes starts a gateway with n routes and counts one request in
// five status codes of each, through the metric set's shared shard.
func manyRoutes(b testing.TB, n int) *engine.Server {
	srv := manyRoutesUncounted(b, n)
	countRoutes(srv)
	return srv
}

// manyRoutesUncounted starts a gateway with n routes that counted nothing
// yet: a gateway just started.
func manyRoutesUncounted(b testing.TB, n int) *engine.Server {
	var yml strings.Builder
	yml.WriteString("listen: \"{listen}\"\nworkers: 4\nupstreams:\n  - name: backend\n    targets: [ { addr: \"{upstream}\" } ]\nroutes:\n")
	for i := range n {
		fmt.Fprintf(&yml, "  - name: route-%d\n    match: { paths: [\"/r%d/*\"] }\n    upstream: backend\n", i, i)
	}
	srv, _ := startEngine(b, yml.String())
	return srv
}

// countRoutes counts one request in five status codes of each of srv's
// route-N routes.
func countRoutes(srv *engine.Server) {
	set := srv.Metrics()
	for _, d := range set.Descs() {
		if d.Name != "sluice_route_requests_total" {
			continue
		}
		id := stats.VecID(d.ID)
		labels, _ := srv.VecLabels(id)
		var lv []string
		for idx := range set.VecLen(id) {
			lv = labels.Values(lv[:0], idx)
			if !strings.HasPrefix(lv[0], "route-") {
				continue
			}
			switch lv[1] {
			case "200", "201", "404", "500", "503":
				set.AddIndexed(id, idx, 1)
			}
		}
	}
}

// BenchmarkScrape is a whole /metrics request: 10,000 routes × 5 codes
// (50,000 route series), gathered by client_golang and encoded as text.
func BenchmarkScrape(b *testing.B) {
	benchScrape(b, manyRoutes(b, 10000))
}

// BenchmarkScrapeGzip is BenchmarkScrape as Prometheus asks for it
// (Accept-Encoding: gzip): the exposition is compressed.
func BenchmarkScrapeGzip(b *testing.B) {
	benchScrapeAs(b, admin.Options{Engine: manyRoutes(b, 10000), NoRuntimeMetrics: true}, "gzip")
}

// BenchmarkScrapeGzipEverySegmentChanged is BenchmarkScrapeGzip with a
// count added to one series of every 50th route before each scrape (200
// writes, in the clock), so that every segment of the route series changed
// since the last scrape and none of the gzipped bytes can be reused: the
// gzipped scrape's worst case, a gateway whose traffic reaches every
// part of its routes between two scrapes.
func BenchmarkScrapeGzipEverySegmentChanged(b *testing.B) {
	srv := manyRoutes(b, 10000)
	set := srv.Metrics()
	var routes stats.VecID
	for _, d := range set.Descs() {
		if d.Name == "sluice_route_requests_total" {
			routes = stats.VecID(d.ID)
		}
	}
	labels, _ := srv.VecLabels(routes)
	var touch []int // one counted series of every 50th route-N
	var lv []string
	for idx := range set.VecLen(routes) {
		lv = labels.Values(lv[:0], idx)
		var n int
		if _, err := fmt.Sscanf(lv[0], "route-%d", &n); err == nil && n%50 == 0 && lv[1] == "200" {
			touch = append(touch, idx)
		}
	}
	a := admin.New(admin.Options{Engine: srv, NoRuntimeMetrics: true})
	defer a.Close()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		for _, idx := range touch {
			set.AddIndexed(routes, idx, 1)
		}
		size = scrapeHandler(b, a, "gzip").Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// benchScrape measures whole /metrics requests to srv's admin handler,
// without the runtime collectors.
func benchScrape(b *testing.B, srv *engine.Server) {
	benchScrapeOpts(b, admin.Options{Engine: srv, NoRuntimeMetrics: true})
}

// benchScrapeOpts measures whole /metrics requests to an admin handler.
func benchScrapeOpts(b *testing.B, opts admin.Options) { benchScrapeAs(b, opts, "") }

// benchScrapeAs is benchScrapeOpts with an Accept-Encoding ("" for none).
func benchScrapeAs(b *testing.B, opts admin.Options, encoding string) {
	a := admin.New(opts)
	defer a.Close()
	h := a.Handler()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		req.RemoteAddr = "127.0.0.1:1"
		h.ServeHTTP(rec, req)
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// BenchmarkSnapshot is the part of a scrape that reads the workers'
// counters: what could contend with the request path.
func BenchmarkSnapshot(b *testing.B) {
	srv := manyRoutes(b, 10000)
	set := srv.Metrics()
	var snap stats.Snapshot
	b.ReportAllocs()
	for b.Loop() {
		set.Snapshot(&snap)
	}
}

// BenchmarkScrapeWithPolicyFamily is BenchmarkScrape plus a global
// policy's family of 5 values counted on each of the 10,000 routes: 50,000
// more series, written by hand like the route vectors.
func BenchmarkScrapeWithPolicyFamily(b *testing.B) {
	srv := manyRoutes(b, 10000)
	env := &engine.Env{Scope: "global", ID: "bench-global"}
	if _, err := env.Counter(engine.CounterOpts{Name: "sluice_bench_policy_total", Help: "h", Label: "result",
		Values: []string{"a", "b", "c", "d", "e"}}); err != nil {
		b.Fatal(err)
	}
	for _, f := range engine.AppendPolicyFamilies(nil) {
		if f.Name != "sluice_bench_policy_total" {
			continue
		}
		for _, s := range f.Series {
			if strings.HasPrefix(s.Route, "route-") {
				for v := range f.Values {
					srv.Metrics().AddIndexed(srv.PolicyVec(), s.Base+v, 1)
				}
			}
		}
	}
	benchScrape(b, srv)
}

// BenchmarkScrapeOneRoute is a whole /metrics request to a one-route
// gateway with the runtime collectors (go_*, process_*), what most
// gateways' scrapes are: its allocations are what a scrape leaves the
// garbage collector.
func BenchmarkScrapeOneRoute(b *testing.B) {
	srv, _ := startEngine(b, "listen: \"{listen}\"\nworkers: 1\nupstreams:\n  - name: backend\n    targets: [ { addr: \"{upstream}\" } ]\nroutes:\n  - match: { paths: [\"/*\"] }\n    upstream: backend\n")
	benchScrapeOpts(b, admin.Options{Engine: srv})
}

// The kept series prefixes write what writing each series anew writes:
// a collector that scraped before more series counted gives, byte for
// byte, what a new collector gives.
func TestSeriesPrefixesWriteTheSameText(t *testing.T) {
	srv := manyRoutes(t, 200) // every route counted with five codes
	warm := admin.NewCollector(srv, nil, "v")
	warm.AppendText(nil)
	set := srv.Metrics()
	for _, d := range set.Descs() {
		if d.Name != "sluice_route_requests_total" {
			continue
		}
		id := stats.VecID(d.ID)
		for idx := range set.VecLen(id) {
			if idx%7 == 0 { // series that had not counted yet, and more counts on the others
				set.AddIndexed(id, idx, 3)
			}
		}
	}
	got := string(warm.AppendText(nil))
	want := string(admin.NewCollector(srv, nil, "v").AppendText(nil))
	if got != want {
		t.Fatalf("with kept prefixes:\n%s\nwritten anew:\n%s", got, want)
	}
	if !strings.Contains(got, `sluice_route_requests_total{route="route-7",code=`) {
		t.Fatalf("no route series in:\n%.2000s", got)
	}
}

// BenchmarkFirstScrape is the first scrape of a gateway just started with
// 10,000 routes, after its routes counted five codes each (50,000 series
// seen for the first time), over a real listener as Prometheus scrapes;
// "second-ns" is the scrape after it. Each iteration starts a gateway and
// an admin server and gives the admin server a second before traffic (off
// the clock): run it with -benchtime 1x, in a process of its own, to see a
// start-up's first scrape.
func BenchmarkFirstScrape(b *testing.B) {
	for _, encoding := range []string{"identity", "gzip"} {
		b.Run(encoding, func(b *testing.B) {
			var second time.Duration
			for b.Loop() {
				b.StopTimer()
				srv := manyRoutesUncounted(b, 10000)
				a, addr := startAdmin(b, admin.Options{Engine: srv})
				time.Sleep(time.Second)
				countRoutes(srv)
				b.StartTimer()
				scrapeOnce(b, "http://"+addr+"/metrics", encoding)
				b.StopTimer()
				start := time.Now()
				scrapeOnce(b, "http://"+addr+"/metrics", encoding)
				second += time.Since(start)
				a.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(second.Nanoseconds())/float64(b.N), "second-ns")
		})
	}
}

// scrapeOnce fetches url with Accept-Encoding: encoding, reading the whole
// body as it comes (not unzipped).
func scrapeOnce(b testing.TB, url, encoding string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", encoding) // set by hand: the Transport does not unzip
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
}

// A gzipped scrape reuses the compressed segments whose text did not
// change since the last one: after counts in one route, after a series
// counted for the first time and after none, each gzipped scrape gunzips
// to what a plain scrape of the same counts gives.
func TestGzipScrapesFollowTheCounts(t *testing.T) {
	srv := manyRoutes(t, 1000) // 26,000 indexes: several segments
	a := admin.New(admin.Options{Engine: srv, NoRuntimeMetrics: true})
	defer a.Close()
	set := srv.Metrics()
	var routes stats.VecID
	for _, d := range set.Descs() {
		if d.Name == "sluice_route_requests_total" {
			routes = stats.VecID(d.ID)
		}
	}
	segments := 0
	for step, c := range []struct {
		count   func()
		changed int // segments changed since the last scrape; -1: not checked
	}{
		{func() {}, -1}, // the first: nothing to reuse
		{func() {}, 0},  // every segment reused: the head, the spans of the routes, the tail
		{func() { set.AddIndexed(routes, 500*26+1, 7) }, 1},  // a count in one segment
		{func() { set.AddIndexed(routes, 900*26+25, 1) }, 1}, // a series counting for the first time
		{func() {}, 0},
		{func() { set.AddIndexed(routes, 3*26+1, 1); set.AddIndexed(routes, 999*26+1, 1) }, 2},
	} {
		c.count()
		rec := scrapeHandler(t, a, "gzip")
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if want := scrapeHandler(t, a, "").Body.String(); string(got) != want {
			t.Fatalf("step %d: gunzipped scrape differs from the plain one:\n%.3000s\nwant\n%.3000s", step, got, want)
		}
		switch reused := a.GzipReused(); {
		case c.changed < 0:
		case segments == 0:
			// At least 7 spans of 4,096 indexes: more when other tests
			// numbered route names first (the names are the process's).
			if segments = reused; segments < 9 {
				t.Errorf("step %d: %d segments reused, want 9 or more", step, reused)
			}
		case reused != segments-c.changed:
			t.Errorf("step %d: %d segments reused, want %d of %d", step, reused, segments-c.changed, segments)
		}
	}
}
