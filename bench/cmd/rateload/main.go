// Command rateload sends GETs at a fixed total rate over a fixed number of
// kept-alive connections and prints the latency percentiles: an open-loop
// client, for latencies that are the server's and not the queue a
// closed-loop client (wrk) builds once the machine is saturated. Each
// request's latency runs from when it was due, not from when it was sent,
// so a stalled server is not hidden (no coordinated omission).
//
//	rateload -url http://127.0.0.1:8080/x -conns 64 -rate 10000 -duration 10s [-header 'X-Api-Key: k%d']
//
// A %d in the header's value is replaced by the connection's number modulo
// 8 (eight keys, as the redislimit cell). It prints one line:
//
//	requests=100000 errors=0 duration_us=10000000 p50_us=310 p90_us=540 p99_us=1210 p999_us=2900 max_us=4800
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
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
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" || *conns < 1 || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "rateload: need -url http://host:port/path, -conns ≥ 1 and -rate > 0")
		os.Exit(2)
	}
	interval := time.Duration(float64(*conns) / *rate * float64(time.Second))
	start := time.Now().Add(100 * time.Millisecond)
	var mu sync.Mutex
	var lat []time.Duration
	errors := 0
	var wg sync.WaitGroup
	for i := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := ""
			if *header != "" {
				h = strings.ReplaceAll(*header, "%d", fmt.Sprint(i%8)) + "\r\n"
			}
			req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n" + h + "\r\n"
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				mu.Lock()
				errors++
				mu.Unlock()
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			// Connections start spread over one interval.
			due := start.Add(time.Duration(i) * interval / time.Duration(*conns))
			var mine []time.Duration
			bad := 0
			for due.Before(start.Add(*duration)) {
				time.Sleep(time.Until(due))
				_, err := io.WriteString(c, req)
				if err == nil {
					var resp *http.Response
					if resp, err = http.ReadResponse(br, nil); err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							bad++
						}
					}
				}
				if err != nil {
					bad++
					break
				}
				mine = append(mine, time.Since(due))
				due = due.Add(interval)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errors += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) int64 {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()
	}
	fmt.Printf("requests=%d errors=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d\n",
		len(lat), errors, (*duration).Microseconds(), pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1))
}
