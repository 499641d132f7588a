// Command idleconns opens N keep-alive client connections to a proxy, sends
// one request on each, reads the response, and then holds every connection
// open and idle until its standard input closes (or it gets SIGTERM/SIGINT).
// The harness measures the proxy's RSS before and after to report memory per
// idle keep-alive connection.
//
//	idleconns -addr 127.0.0.1:8080 -n 10000 [-path /] [-concurrency 128]
//
// It prints "READY <held> <failed>" on stdout once every connection has been
// tried, and "CLOSED <still-open>" when it lets go; "<still-open>" counts the
// connections the proxy had not closed meanwhile. The process needs an open
// file limit above N (bench/run.sh raises it).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "proxy address")
	n := flag.Int("n", 10000, "connections to open and hold")
	path := flag.String("path", "/", "request path")
	concurrency := flag.Int("concurrency", 128, "connections being opened at once (bounded so the listen backlog never overflows)")
	timeout := flag.Duration("timeout", 10*time.Second, "per-connection dial+request timeout")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	conns, failed := openAll(ctx, *addr, *path, *n, *concurrency, *timeout)
	fmt.Printf("READY %d %d\n", len(conns), failed)

	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	}
	fmt.Printf("CLOSED %d\n", countOpen(conns))
	for _, c := range conns {
		c.Close()
	}
}

// openAll opens up to n connections with at most concurrency dials in
// flight; each one carries one request whose response is read in full.
// Failed connections are counted, not retried.
func openAll(ctx context.Context, addr, path string, n, concurrency int, timeout time.Duration) ([]net.Conn, int) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: idleconns\r\n\r\n")
	var (
		mu     sync.Mutex
		conns  = make([]net.Conn, 0, n)
		failed int
		wg     sync.WaitGroup
		sem    = make(chan struct{}, max(1, concurrency))
	)
	logged := 0
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := oneRequest(addr, req, timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if logged < 5 {
					logged++
					log.Printf("idleconns: %v", err)
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	return conns, failed
}

func oneRequest(addr string, req []byte, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	// The bufio.Reader is dropped after the response: the connection is idle
	// and nothing more is expected on it.
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	if err == nil && resp.Close {
		err = fmt.Errorf("proxy closed the keep-alive connection after one request")
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// countOpen reports how many connections the peer has not closed: a read
// with an already-past deadline times out on an open idle connection and
// returns EOF (or an error other than a timeout) on a closed one.
func countOpen(conns []net.Conn) int {
	open := 0
	var b [1]byte
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(b[:])
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			open++
		}
	}
	return open
}
