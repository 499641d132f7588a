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
	poll(ctx, client, srv.URL, true, 0, time.Millisecond, w)

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
