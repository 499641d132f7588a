// Command poller GETs one URL at a fixed interval on one kept-alive
// connection, as a Prometheus server scrapes a target, until it is stopped.
// The harness runs it beside wrk, pinned to wrk's CPU: against Sluice's
// /metrics it is the scraper of the scrape scenario; against the upstream
// it is that scenario's control, a second client doing the same thing to
// something other than the gateway.
//
//	poller -url http://127.0.0.1:9901/metrics [-every 1s] [-first 1s] [-gzip] [-align [-offset 1s]]
//
// It prints one line per fetch on stdout, written whole by one write:
//
//	FETCH wall_us=2314 ttfb_us=2001 status=200 bytes=301822 enc=gzip
//	FETCH-ERROR wall_us=12 err=...
//
// With -align -odd-url, a run of bench/cmd/rateload -windows W beside it
// and -every 2W, it fetches -url at the start of each of rateload's even
// windows and -odd-url at the start of each odd one, and each line says
// which after its kind (FETCH window=even wall_us=...): the scrape and the
// control of one run, each in the windows of its own.
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
	"strings"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "", "the URL to fetch")
	every := flag.Duration("every", time.Second, "interval between the starts of two fetches")
	first := flag.Duration("first", time.Second, "delay before the first fetch (the harness starts wrk meanwhile)")
	gzip := flag.Bool("gzip", true, "send Accept-Encoding: gzip, as Prometheus does")
	align := flag.Bool("align", false, "fetch at the wall-clock instants that are multiples of -every since the Unix epoch, plus -offset: the starts of rateload -windows' even windows when -every is twice their width")
	offset := flag.Duration("offset", 0, "with -align, how far after each multiple of -every to fetch")
	oddURL := flag.String("odd-url", "", "with -align, also fetch this URL half an interval after each fetch of -url: -url in rateload's even windows, this one in its odd windows; each line then says which (window=even|odd)")
	flag.Parse()
	if *url == "" || *every <= 0 || (*oddURL != "" && !*align) {
		fmt.Fprintln(os.Stderr, "poller: -url is required, -every must be positive, and -odd-url needs -align")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// DisableCompression: with Accept-Encoding set by hand the Transport
	// would not decompress anyway; this also keeps it from asking for gzip
	// when -gzip=false.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 1}}
	start := time.Now().Add(*first)
	if *align {
		start = alignedAfter(start, *every, *offset)
	}
	targets := []target{{url: *url}}
	if *oddURL != "" {
		targets = []target{{url: *url, window: "even"}, {url: *oddURL, window: "odd"}}
	}
	poll(ctx, client, targets, *gzip, start, *every/time.Duration(len(targets)), os.Stdout)
}

// target is a URL the poller fetches in turn with the others, and the
// window its lines name ("" when it is the only one).
type target struct {
	url, window string
}

// alignedAfter is the first instant at or after t whose time since the
// Unix epoch, less offset, is a multiple of every.
func alignedAfter(t time.Time, every, offset time.Duration) time.Time {
	since := t.UnixNano() - int64(offset)
	k := since / int64(every)
	if since%int64(every) != 0 && since > 0 {
		k++
	}
	return time.Unix(0, k*int64(every)+int64(offset))
}

// poll fetches at first, first+every, first+2·every... until ctx ends,
// the targets in turn; a fetch that ctx's end cut short is not reported. Ticks missed by a fetch longer than every are
// skipped, not caught up, so fetches never run back to back; a skipped
// tick skips its target too, so each keeps its place in the schedule.
func poll(ctx context.Context, client *http.Client, targets []target, gzip bool, first time.Time, every time.Duration, out io.Writer) {
	next, tick := first, 0
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		tg := targets[tick%len(targets)]
		line := fetch(ctx, client, tg.url, gzip)
		if ctx.Err() != nil && strings.HasPrefix(line, "FETCH-ERROR") {
			return // cut short by the poller's own stop: nothing the server did
		}
		if tg.window != "" { // after the line's kind: a FETCH-ERROR's err= stays last
			kind, rest, _ := strings.Cut(line, " ")
			line = kind + " window=" + tg.window + " " + rest
		}
		fmt.Fprintln(out, line)
		for now := time.Now(); !next.After(now); tick++ {
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
