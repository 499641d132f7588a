package admin_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/sluice-gw/sluice/admin"
)

// TestWarmUpAtListenAndAcceptedReload: the scrape thread renders once
// when the listener starts and after an accepted reload, not after a
// refused one nor after Close, and not again after a reload within the
// interval. Renders run in the order asked, so a scrape answered after the
// warm-up was asked for proves it ran.
func TestWarmUpAtListenAndAcceptedReload(t *testing.T) {
	srv, _ := startEngine(t, trafficYAML)
	a, adminAddr := startAdmin(t, admin.Options{Engine: srv, NoRuntimeMetrics: true})
	a.SetReloadWarmEvery(0)
	get(t, "http://"+adminAddr+"/metrics")
	if n := a.Warmups(); n != 1 {
		t.Fatalf("after Listen and a scrape: %d warm-ups, want 1", n)
	}
	a.ReloadDone(errors.New("refused"))
	get(t, "http://"+adminAddr+"/metrics")
	if n := a.Warmups(); n != 1 {
		t.Fatalf("after a refused reload: %d warm-ups, want 1", n)
	}
	a.ReloadDone(nil)
	get(t, "http://"+adminAddr+"/metrics")
	if n := a.Warmups(); n != 2 {
		t.Fatalf("after an accepted reload: %d warm-ups, want 2", n)
	}
	a.ReloadDone(nil) // queued, maybe not rendered: Close must not wait for it
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := a.Warmups()
	a.ReloadDone(nil)
	rec := scrapeHandler(t, a, "gzip") // a scrape after Close starts a thread of its own
	if rec.Code != 200 || a.Warmups() != after && a.Warmups() != after+1 {
		t.Fatalf("after Shutdown: status %d, %d warm-ups, want %d (or one more: the one queued before)", rec.Code, a.Warmups(), after)
	}
}

// scrapeHandler scrapes a's handler in memory, with Accept-Encoding:
// encoding ("" for none).
func scrapeHandler(t testing.TB, a *admin.Server, encoding string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "127.0.0.1:1"
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec
}

// Bug (caught in review): every accepted reload warmed the scrape up, and
// every Admin API change is one: twenty changes a second on 10,000 routes
// kept the scrape thread rendering (7 to 15 ms each) on the event loops'
// cores. Within reloadWarmEvery, one warm-up serves them all.
func TestReloadWarmUpsAreRateLimited(t *testing.T) {
	srv, _ := startEngine(t, trafficYAML)
	a, adminAddr := startAdmin(t, admin.Options{Engine: srv, NoRuntimeMetrics: true})
	get(t, "http://"+adminAddr+"/metrics") // after the Listen warm-up
	before := a.Warmups()
	for range 20 {
		a.ReloadDone(nil)
		get(t, "http://"+adminAddr+"/metrics") // after the warm-up it asked for, if any
	}
	if n := a.Warmups() - before; n != 1 {
		t.Fatalf("20 reloads, each followed by a scrape: %d warm-ups, want 1", n)
	}
}
