package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPollKeepsOneConnectionAndReportsGzipBytes checks what the harness
// relies on: one line per fetch, the body's bytes as received (compressed),
// and a single kept-alive connection for every fetch.
func TestPollKeepsOneConnectionAndReportsGzipBytes(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(bytes.Repeat([]byte("sluice_route_requests_total 1\n"), 100))
	_ = zw.Close()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding = %q, want gzip", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(zipped.Bytes())
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	w := &countingWriter{buf: &out, after: 3, stop: cancel}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	poll(ctx, client, []target{{url: srv.URL}}, true, time.Now(), time.Millisecond, w)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), out.String())
	}
	want := " status=200 bytes=" + strconv.Itoa(zipped.Len()) + " enc=gzip"
	for _, l := range lines {
		if !strings.HasPrefix(l, "FETCH wall_us=") || !strings.Contains(l, " ttfb_us=") || !strings.HasSuffix(l, want) {
			t.Errorf("line %q, want FETCH wall_us=N ttfb_us=N%s", l, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 fetches, want 1", n)
	}
}

func TestFetchReportsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	line := fetch(context.Background(), &http.Client{}, url, false)
	if !strings.HasPrefix(line, "FETCH-ERROR wall_us=") {
		t.Fatalf("fetch of a closed server: %q", line)
	}
}

// countingWriter cancels the poll after a number of lines.
type countingWriter struct {
	buf   *bytes.Buffer
	after int
	stop  func()
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if w.after--; w.after == 0 {
		w.stop()
	}
	return n, err
}

// TestAlignedAfter: the first fetch of -align is the first instant at or
// after the asked start that is a multiple of -every plus -offset, never
// earlier and never a whole interval late.
func TestAlignedAfter(t *testing.T) {
	every := 2 * time.Second
	for _, c := range []struct {
		t, offset, want int64 // ms since the epoch
	}{
		{10_000, 0, 10_000}, {10_001, 0, 12_000}, {11_999, 0, 12_000},
		{10_000, 1_000, 11_000}, {11_000, 1_000, 11_000}, {11_001, 1_000, 13_000},
		{500, 1_000, 1_000}, {0, 0, 0},
	} {
		got := alignedAfter(time.UnixMilli(c.t), every, time.Duration(c.offset)*time.Millisecond).UnixMilli()
		if got != c.want {
			t.Errorf("alignedAfter(%d ms, every 2s, offset %d ms) = %d, want %d", c.t, c.offset, got, c.want)
		}
	}
	now := time.Now()
	a := alignedAfter(now, every, 300*time.Millisecond)
	if a.Before(now) || a.Sub(now) >= every || (a.UnixNano()-int64(300*time.Millisecond))%int64(every) != 0 {
		t.Errorf("alignedAfter(now) = %v for %v", a, now)
	}
}

// TestPollAlternatesTheWindowsTargets: with two targets the fetches take
// turns on the schedule (a tick skipped by a slow fetch skips its target,
// so each keeps its windows), and each line names its window after its
// kind, a failed fetch's too (whose err= must stay last for the harness's
// reader).
func TestPollAlternatesTheWindowsTargets(t *testing.T) {
	var evenFetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			evenFetches.Add(1)
		}
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	w := &windowsWriter{buf: &out, stop: cancel}
	poll(ctx, &http.Client{}, []target{{url: srv.URL + "/metrics", window: "even"}, {url: dead.URL + "/", window: "odd"}}, false, time.Now(), time.Millisecond, w)

	if w.even < 2 || w.odd < 2 {
		t.Fatalf("%d even and %d odd lines in a minute:\n%s", w.even, w.odd, out.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "FETCH window=even wall_us=") && !strings.HasPrefix(l, "FETCH-ERROR window=odd wall_us=") {
			t.Errorf("line %q: the even target answers, the odd one is dead", l)
		}
	}
	if int(evenFetches.Load()) != w.even {
		t.Errorf("/metrics fetched %d times, %d even lines", evenFetches.Load(), w.even)
	}
}

// windowsWriter cancels the poll once it has two lines of each window.
type windowsWriter struct {
	buf       *bytes.Buffer
	even, odd int
	stop      func()
}

func (w *windowsWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(" window=even ")) {
		w.even++
	} else if bytes.Contains(p, []byte(" window=odd ")) {
		w.odd++
	}
	if w.even >= 2 && w.odd >= 2 {
		w.stop()
	}
	return w.buf.Write(p)
}

// TestPollDropsTheFetchItsStopCut: the fetch in flight when the poller is
// stopped (the harness ends its run) is not reported as a failed fetch.
// The windowed scrape test failed on one, "terminated signal received".
func TestPollDropsTheFetchItsStopCut(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // answers only when the client gives up
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	var out bytes.Buffer
	poll(ctx, &http.Client{}, []target{{url: srv.URL}}, false, time.Now(), time.Hour, &out)
	if out.Len() != 0 {
		t.Fatalf("a fetch cut by the stop was reported: %s", out.String())
	}
}
