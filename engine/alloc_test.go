//go:build !race

package engine_test

import (
	"io"
	"net"
	"runtime"
	"testing"
)

// fixedUpstream answers every request head with the same response, without
// allocating, so that a process-wide malloc count measures the gateway.
func fixedUpstream(t testing.TB, resp []byte) string {
	addr, _ := rawUpstream(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		state := 0 // how much of "\r\n\r\n" the stream ends with
		for {
			n, err := c.Read(buf)
			if n > 0 {
				// Count request ends, also across reads, without allocating.
				ends := 0
				for _, b := range buf[:n] {
					switch {
					case b == '\r' && (state == 0 || state == 2):
						state++
					case b == '\n' && (state == 1 || state == 3):
						state++
					case b == '\r':
						state = 1
					default:
						state = 0
					}
					if state == 4 {
						ends++
						state = 0
					}
				}
				for ; ends > 0; ends-- {
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}
			if err != nil {
				return
			}
		}
	})
	return addr
}

// steadyRequests sends n keep-alive requests on one connection and reads
// each response (of known length) into a fixed buffer.
func steadyRequests(t testing.TB, addr string, req []byte, respLen, n int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, respLen)
	for i := 0; i < n; i++ {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

const steadyReq = "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nX-Api-Key: k-123\r\n\r\n"

// TestSteadyStateAllocations pins the allocation budget of a proxied
// keep-alive request: the goal is at most 0.1 per request.
func TestSteadyStateAllocations(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	up := fixedUpstream(t, resp)
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: headers
        config: { request: { set: { X-Gateway: sluice } }, response: { set: { X-Gateway: sluice } } }
`, up))
	// What the client receives: the upstream's head plus the response edit.
	probe := dialRaw(t, g.addr)
	probe.send(steadyReq)
	r, body := probe.response("GET")
	if r.StatusCode != 200 || body != "Hello, World!" || r.Header.Get("X-Gateway") != "sluice" {
		t.Fatalf("probe: %d %q %v", r.StatusCode, body, r.Header)
	}
	respLen := len("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nX-Gateway: sluice\r\n\r\nHello, World!")

	steadyRequests(t, g.addr, []byte(steadyReq), respLen, 2000) // warm every buffer
	const n = 20000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	steadyRequests(t, g.addr, []byte(steadyReq), respLen, n)
	runtime.ReadMemStats(&after)
	perReq := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("allocations per proxied request (whole process, one new client connection included): %.4f", perReq)
	if perReq > 0.1 {
		t.Fatalf("%.3f allocations per request, budget 0.1", perReq)
	}
}
