package engine_test

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hostile peers: random bytes, truncated messages and abrupt closes on the
// client side must never crash the gateway, hang a connection past its
// timeouts, or leak requests in flight; a well-formed request afterwards
// still works.
func TestHostileClientsLeaveTheGatewayServing(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `client: { header_timeout: 500ms, body_timeout: 500ms }
`+routeAll, up.addr))
	valid := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
		"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mutate := func(s string) string {
		b := []byte(s)
		switch rng.IntN(5) {
		case 0: // truncate
			return string(b[:rng.IntN(len(b))])
		case 1: // flip bytes
			for i := 0; i < 1+rng.IntN(4); i++ {
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			}
			return string(b)
		case 2: // random garbage
			g := make([]byte, 1+rng.IntN(300))
			for i := range g {
				g[i] = byte(rng.IntN(256))
			}
			return string(g)
		case 3: // duplicate a line
			lines := strings.SplitAfter(s, "\r\n")
			i := rng.IntN(len(lines))
			return strings.Join(append(lines[:i+1], lines[i:]...), "")
		}
		return s + s[:rng.IntN(len(s))] // a valid request and a partial one
	}
	type hostileCase struct {
		input string
		abort bool
	}
	cases := make(chan hostileCase)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ { // the cases wait on timeouts: run them side by side
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for hc := range cases {
				c, err := net.DialTimeout("tcp", g.addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, hc.input)
				if hc.abort {
					c.Close() // abrupt close, response or not
					continue
				}
				// Whatever the gateway answers, it must end the exchange in
				// time: a response (keep-alive: then we close), or a close.
				_, err = c.Read(buf)
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("%q: the gateway neither answered nor closed within 10s", hc.input)
				}
				c.Close()
			}
		}()
	}
	for i := 0; i < 150; i++ {
		cases <- hostileCase{input: mutate(valid[rng.IntN(len(valid))]), abort: rng.IntN(3) == 0}
	}
	close(cases)
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for g.srv.InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still in flight after every hostile client left", g.srv.InFlight())
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + g.addr + "/after")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the hostile clients: %d", resp.StatusCode)
	}
}

// Hostile upstreams: what they send may be anything; the client gets a
// 502 when nothing was sent yet, and a closed connection when a response
// was already under way.
func TestHostileUpstreams(t *testing.T) {
	cases := []struct {
		name, reply string
		status      int // 0: the client must see the connection close mid-response
	}{
		{"garbage", "\x00\x01garbage\r\n\r\n", 502},
		{"bare LF status line", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 502},
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502},
		{"huge head", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 100000) + "\r\n\r\n", 502},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", 0},
		{"closes before head", "HTTP/1.1 20", 502},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := rawUpstream(t, func(c net.Conn) {
				buf := make([]byte, 4096)
				c.Read(buf)
				io.WriteString(c, tc.reply)
			})
			g := startGateway(t, upstreamYAML("{listen}", `    retries: { tries: 1 }
`+routeAll, addr))
			rc := dialRaw(t, g.addr)
			rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if tc.status != 0 {
				resp, body := rc.response("GET")
				if resp.StatusCode != tc.status || !strings.Contains(body, `"status":502`) {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				return
			}
			rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Fatal("a broken chunked body from the upstream reached the client as a complete one")
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the client hangs after a broken upstream body")
			}
		})
	}
}

// Bug: a write that fails makes gnet close the connection at once, and
// OnClose ran in the middle of relaying a response body: the relay then
// used the released request context (nil dereference, crash under load in
// the 64 KiB / 256 connections bench). Clients that reset mid-response
// must leave the gateway serving.
func TestClientResetMidResponseDoesNotCrash(t *testing.T) {
	chunk := strings.Repeat("r", 32<<10)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 256; i++ { // 8 MiB, in pieces so the relay runs many times
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8<<10)
			for i := 0; i < 10; i++ {
				conn, err := net.Dial("tcp", g.addr)
				if err != nil {
					t.Error(err)
					return
				}
				io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				io.ReadAtLeast(conn, buf, 1)
				conn.(*net.TCPConn).SetLinger(0) // close with RST: the gateway's next write fails
				conn.Close()
			}
		}()
	}
	wg.Wait()
	resp, err := http.Get("http://" + g.addr + "/after")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for g.srv.InFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight after the clients left", g.srv.InFlight())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
