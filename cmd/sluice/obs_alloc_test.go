//go:build !race

package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/internal/freeport"
	"github.com/sluice-gw/sluice/policies"
)

// fixedResponder answers every request head it reads with resp, without
// allocating per request (it counts request ends across reads).
func fixedResponder(t *testing.T, resp []byte) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				state := 0
				for {
					n, err := c.Read(buf)
					for _, b := range buf[:n] {
						switch {
						case b == '\r' && (state == 0 || state == 2), b == '\n' && (state == 1 || state == 3):
							state++
						case b == '\r':
							state = 1
						default:
							state = 0
						}
						if state == 4 {
							state = 0
							if _, err := c.Write(resp); err != nil {
								return
							}
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// mallocsPerRequest runs a gateway for yml with the access log it asks for
// and returns the process's mallocs per proxied keep-alive request.
func mallocsPerRequest(t *testing.T, yml string) float64 {
	cfg, err := config.Parse([]byte(yml), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compiler := engine.NewCompiler(policies.Build)
	defer compiler.Close()
	snap, err := compiler.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := engine.Options{Listen: cfg.Listen, Workers: 1, Logf: t.Logf}
	rl, err := newRequestLogger(cfg, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rl != nil {
		opts.AccessLog = rl.log
		defer rl.close()
	}
	srv, err := engine.NewServer(opts, snap)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	}()
	c, err := net.Dial("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\n\r\n")
	const respLen = 79 // the head and body fixedResponder sends, as relayed
	buf := make([]byte, 4096)
	do := func(n int) {
		for range n {
			if _, err := c.Write(req); err != nil {
				t.Fatal(err)
			}
			got := 0
			for got == 0 || !strings.Contains(string(buf[:got]), "Hello, World!") {
				m, err := c.Read(buf[got:])
				if err != nil {
					t.Fatal(err)
				}
				got += m
			}
		}
	}
	do(2000) // warm up: pools, rings and buffers grow (every ring slot: queue_lines < 2000)
	var before, after runtime.MemStats
	const n = 5000
	runtime.GC()
	runtime.ReadMemStats(&before)
	do(n)
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / n
}

// TestObservabilityAllocations compares the process's mallocs per proxied
// request with the JSON access log (to a file) and trace.start on against
// both off: the difference must stay under 0.1 per request (the engine's
// budget for a whole request). The process-wide count includes the test
// client and the upstream, which are the same in both runs.
func TestObservabilityAllocations(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	up := fixedResponder(t, resp)
	base := "listen: " + freeport.Addr(t) + "\nworkers: 1\nlog_level: error\nupstreams:\n  - name: up\n    targets: [ { addr: " + up + " } ]\nroutes:\n  - name: api\n    match: { paths: [\"/*\"] }\n    upstream: up\n"
	off := mallocsPerRequest(t, base)
	logFile := filepath.Join(t.TempDir(), "access.log")
	on := mallocsPerRequest(t, strings.Replace(base, "listen: ", "access_log: { format: json, queue_lines: 64, path: "+logFile+" }\ntrace: { start: true }\nlisten: ", 1)+"")
	t.Logf("mallocs per request: %.3f with JSON log and trace.start, %.3f without", on, off)
	if on-off > 0.1 {
		t.Errorf("JSON access log and trace.start cost %.3f mallocs per request (%.3f against %.3f)", on-off, on, off)
	}
	if st, err := os.Stat(logFile); err != nil || st.Size() < 5000*200 {
		t.Errorf("access log: %v, %d bytes for 7000 requests (some may be dropped)", err, st.Size())
	}
}
