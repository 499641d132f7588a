// Command goproxy is the Go-standard-library peer of the end-to-end bench: a
// net/http/httputil.ReverseProxy in front of one upstream, with a Transport
// tuned the way a careful Go user would tune it (a large idle pool per host,
// long idle timeout, no HTTP/2 attempt, no compression, pooled copy buffers).
//
//	goproxy -listen 127.0.0.1:8080 -to 127.0.0.1:9000 [-admin 127.0.0.1:8081]
//
// With -admin it serves expvar's /debug/vars on a separate listener, so the
// harness can read memstats.Mallocs before and after a run (allocations per
// request under load). One worker means GOMAXPROCS=1; the harness pins the
// process to one core with taskset, which Go honours when it sizes GOMAXPROCS.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	_ "expvar" // registers /debug/vars on http.DefaultServeMux for -admin
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve clients on")
	to := flag.String("to", "", "upstream host:port (required)")
	admin := flag.String("admin", "", "optional address serving expvar /debug/vars")
	flag.Parse()
	if *to == "" {
		log.Fatal("goproxy: -to is required")
	}

	srv := &http.Server{
		Addr:              *listen,
		Handler:           newProxy(*to),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       300 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	if *admin != "" {
		go func() {
			if err := http.ListenAndServe(*admin, http.DefaultServeMux); err != nil {
				log.Printf("goproxy: admin: %v", err)
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("goproxy: %v", err)
	}
	log.Printf("goproxy: %s -> %s", ln.Addr(), *to)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("goproxy: %v", err)
	}
}
