//go:build !race

package admin_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/admin"
)

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFirstScrapeAllocatesAsAWarmOne: once the warm-up at Listen has run,
// the first scrape allocates about what every later one does. Without the
// warm-up it grew the metric set's sums, the series prefixes and their
// index, the exposition and the gzip writer: for 2,000 routes several MB,
// for 10,000 routes 34 MB and most of 120–240 ms. (Bytes counted for the
// whole process: the margin is for the HTTP server's and client's own.)
func TestFirstScrapeAllocatesAsAWarmOne(t *testing.T) {
	srv := manyRoutes(t, 2000)
	a, adminAddr := startAdmin(t, admin.Options{Engine: srv, NoRuntimeMetrics: true})
	for deadline := time.Now().Add(time.Minute); a.Warmups() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no warm-up after Listen")
		}
	}
	url := "http://" + adminAddr + "/metrics"
	first := allocated(func() { scrapeOnce(t, url, "gzip") })
	second := allocated(func() { scrapeOnce(t, url, "gzip") })
	t.Logf("first scrape %d bytes allocated, second %d", first, second)
	if first > second+512<<10 {
		t.Errorf("first scrape after the warm-up allocated %d bytes, the second %d", first, second)
	}
}

// TestFirstScrapeAfterTrafficAllocatesOnce: a collector warmed before any
// series counted, then scraped after 10,000 counted at once, allocates its
// new prefixes and the exposition once each (measured: 2.7 times the
// exposition's size), not by append's 1.25× growth (measured: 10.7 times).
func TestFirstScrapeAfterTrafficAllocatesOnce(t *testing.T) {
	srv := manyRoutesUncounted(t, 2000)
	c := admin.NewCollector(srv, nil, "v")
	c.AppendText(nil)
	countRoutes(srv)
	var out []byte
	n := allocated(func() { out = c.AppendText(nil) })
	t.Logf("%d bytes allocated for %d bytes of exposition", n, len(out))
	if n > 4*uint64(len(out)) {
		t.Errorf("first scrape after traffic allocated %d bytes for %d bytes of exposition", n, len(out))
	}
}
