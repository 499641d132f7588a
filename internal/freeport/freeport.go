// Package freeport gives tests loopback ports that were free a moment
// ago, for servers they start and for dead upstreams.
//
// Asking the kernel for port 0 and closing the listener at once is the
// usual way, and it has a trap: the kernel may hand the port it just
// gave out, now closed, to the very next ask. Two ports picked before
// either is bound can then be the same, and a gateway told to listen on
// both exits with "address already in use" (CI, 2026-12-02: a node's
// listen and admin addresses were both 127.0.0.1:34139). So this process
// never gets the same port twice from here. Another process may still
// take a port before it is bound; callers that start servers of their
// own (redistest, consultest) retry on that.
package freeport

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
)

// tries bounds the asks for one port. The kernel draws from thousands of
// ports, so even a few hundred handed out already make a repeat rare.
const tries = 100

var (
	mu    sync.Mutex
	given = make(map[int]bool)
	ask   = askKernel // a test's stand-in for the kernel
)

// askKernel binds port 0 on loopback and closes it at once.
func askKernel() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is a loopback port that was free a moment ago and that this
// process has not had from Port before.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range tries {
		port, err := ask()
		if err != nil {
			return 0, err
		}
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("freeport: %d asks for a port gave only ports this process had had (%d of them)", tries, len(given))
}

// Addr is Port as "127.0.0.1:port"; failing to find one fails tb.
func Addr(tb testing.TB) string {
	tb.Helper()
	port, err := Port()
	if err != nil {
		tb.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}
