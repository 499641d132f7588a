// Command poller GETs one URL at a fixed interval on one kept-alive
// connection, as a Prometheus server scrapes a target, until it is stopped.
// The harness runs it beside wrk, pinned to wrk's CPU: against Sluice's
// /metrics it is the scraper of the scrape scenario; against the upstream
// it is that scenario's control, a second client doing the same thing to
// something other than the gateway.
//
//	poller -url http://127.0.0.1:9901/metrics [-every 1s] [-first 1s] [-gzip]
//
// It prints one line per fetch on stdout, written whole by one write:
//
//	FETCH wall_us=2314 ttfb_us=2001 status=200 bytes=301822 enc=gzip
//	FETCH-ERROR wall_us=12 err=...
//
// wall_us runs from sending the request to reading the body's last byte,
// ttfb_us to the response's first byte (Sluice makes the whole exposition
// before it writes any of it, so that part is the making, plus the wake-ups
// of both sides; the rest is the transfer); bytes is the body as received (compressed when enc=gzip: the poller asks
// for gzip with -gzip and never decompresses, so it costs wrk's CPU no more
// than a Prometheus server would cost the gateway's host).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "", "the URL to fetch")
	every := flag.Duration("every", time.Second, "interval between the starts of two fetches")
	first := flag.Duration("first", time.Second, "delay before the first fetch (the harness starts wrk meanwhile)")
	gzip := flag.Bool("gzip", true, "send Accept-Encoding: gzip, as Prometheus does")
	flag.Parse()
	if *url == "" || *every <= 0 {
		fmt.Fprintln(os.Stderr, "poller: -url is required and -every must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// DisableCompression: with Accept-Encoding set by hand the Transport
	// would not decompress anyway; this also keeps it from asking for gzip
	// when -gzip=false.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 1}}
	poll(ctx, client, *url, *gzip, *first, *every, os.Stdout)
}

// poll fetches url at first, first+every, first+2·every... from now until
// ctx ends. Ticks missed by a fetch longer than every are skipped, not
// caught up, so fetches never run back to back.
func poll(ctx context.Context, client *http.Client, url string, gzip bool, first, every time.Duration, out io.Writer) {
	next := time.Now().Add(first)
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		fmt.Fprintln(out, fetch(ctx, client, url, gzip))
		for now := time.Now(); !next.After(now); {
			next = next.Add(every)
		}
	}
}

// fetch makes one request and returns its FETCH or FETCH-ERROR line.
func fetch(ctx context.Context, client *http.Client, url string, gzip bool) string {
	start := time.Now()
	var ttfb time.Duration
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotFirstResponseByte: func() { ttfb = time.Since(start) }})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Sprintf("FETCH-ERROR wall_us=0 err=%q", err.Error())
	}
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Sprintf("FETCH-ERROR wall_us=%d err=%q", time.Since(start).Microseconds(), err.Error())
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	wall := time.Since(start).Microseconds()
	if err != nil {
		return fmt.Sprintf("FETCH-ERROR wall_us=%d err=%q", wall, err.Error())
	}
	enc := resp.Header.Get("Content-Encoding")
	if enc == "" {
		enc = "identity"
	}
	return fmt.Sprintf("FETCH wall_us=%d ttfb_us=%d status=%d bytes=%d enc=%s", wall, ttfb.Microseconds(), resp.StatusCode, n, enc)
}
