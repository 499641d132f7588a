// Command rateload sends GETs at a fixed total rate over a fixed number of
// kept-alive connections and prints the latency percentiles: an open-loop
// client, for latencies that are the server's and not the queue a
// closed-loop client (wrk) builds once the machine is saturated.
//
//	rateload -url http://127.0.0.1:8080/x -conns 64 -rate 10000 -duration 10s [-header 'X-Api-Key: k%d'] [-pace timerfd|sleep] [-windows 1s]
//
// A %d in the header's value is replaced by the connection's number modulo
// 8 (eight keys, as the redislimit cell). It prints one line:
//
//	requests=100000 errors=0 duration_us=10000000 p50_us=310 p90_us=540 p99_us=1210 p999_us=2900 max_us=4800 late_p50_us=3 late_p99_us=40 late_max_us=900
//
// With -windows W the line goes on with the same figures for the requests
// due in even and in odd wall-clock windows of width W (windows.go):
//
//	... even_requests=50000 even_p99_us=1300 even_p999_us=3000 odd_requests=50000 odd_p99_us=1200 odd_p999_us=2800
//
// Latency runs from when a request was due, less the client's own lateness
// in sending it (timeline.go has the rule); late_* are that lateness, which
// should be small against the latencies for the figures to mean anything.
// To be an instrument rather than noise, the client waits on a timerfd
// (pace.go) and reads responses without allocating (respread.go).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "the URL to GET")
	conns := flag.Int("conns", 64, "kept-alive connections")
	rate := flag.Float64("rate", 10000, "requests per second, all connections together")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	header := flag.String("header", "", `a header line "Name: value"; %d in the value becomes the connection's number modulo 8`)
	window := flag.Duration("windows", 0, "when set, also report the requests due in even and in odd wall-clock windows of this width apart (even_* and odd_* fields), for comparing what another process does in every even window (bench/cmd/poller -align)")
	pace := flag.String("pace", "timerfd", "how a connection waits for its next request: timerfd (one per connection) or sleep (time.Sleep, wakes up to 1 ms late; the old behaviour)")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" || *conns < 1 || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "rateload: need -url http://host:port/path, -conns ≥ 1 and -rate > 0")
		os.Exit(2)
	}
	if *pace != "timerfd" && *pace != "sleep" {
		fmt.Fprintf(os.Stderr, "rateload: -pace %q: want timerfd or sleep\n", *pace)
		os.Exit(2)
	}
	base := time.Now()
	win := windows{base: base.UnixNano(), width: int64(*window)}
	now := func() time.Duration { return time.Since(base) }
	// One request is due every tick, connection i's at i·tick + k·interval.
	tick := time.Duration(float64(time.Second) / *rate)
	interval := tick * time.Duration(*conns)
	start := now() + 100*time.Millisecond
	end := start + *duration
	loops := make([]*connLoop, *conns)
	var wg sync.WaitGroup
	for i := range *conns {
		first := start + time.Duration(i)*tick
		n := expectedRequests(first, interval, end)
		l := &connLoop{now: now, request: []byte(request(u, *header, i)), due: first, interval: interval, end: end,
			latency: make([]time.Duration, 0, n), late: make([]time.Duration, 0, n), windows: win}
		if win.on() {
			l.odd = make([]bool, 0, n)
		}
		loops[i] = l
		wg.Go(func() {
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				l.errors++
				return
			}
			defer c.Close()
			var p pacer = sleepPacer{now}
			if *pace == "timerfd" {
				if p, err = newTimerfdPacer(now); err != nil {
					l.errors++
					return
				}
			}
			defer p.close()
			l.conn, l.resp, l.pace = c, newResponseReader(c, readBufferSize), p
			l.run()
		})
	}
	wg.Wait()
	s := summary{duration: *duration, windows: win.on()}
	for _, l := range loops {
		s.add(l)
	}
	if err := s.write(os.Stdout); err != nil {
		os.Exit(1)
	}
}

// request is connection i's GET.
func request(u *url.URL, header string, i int) string {
	h := ""
	if header != "" {
		h = strings.ReplaceAll(header, "%d", fmt.Sprint(i%8)) + "\r\n"
	}
	return "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + h + "\r\n"
}
