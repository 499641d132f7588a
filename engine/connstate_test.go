package engine_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnectionsByState holds one client connection in each state — a
// head half sent, a request suspended by a policy, one waiting for an
// upstream that does not answer, one whose response body is half
// relayed, one idle after its response — and checks the gauges; then
// closes them and checks that every state but idle goes back to zero.
func TestConnectionsByState(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	upAddr, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		for { // the rest of the head
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		switch {
		case strings.Contains(line, "/partial"):
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"))
		case strings.Contains(line, "/fast"):
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
		}
		<-hold // /slow never answers; the others never finish or stay idle
	})
	fast := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	g := startGateway(t, upstreamYAML("{listen}", `  - name: fast
    targets: [ { addr: `+fast.addr+` } ]
client: { policy_timeout: 60s, header_timeout: 60s }
routes:
  - name: hold
    match: { paths: ["/hold"] }
    upstream: up
    policies:
      - name: test-api
        config: { mode: never-resume }
  - name: fast
    match: { paths: ["/fast"] }
    upstream: fast
  - name: raw
    match: { paths: ["/*"] }
    upstream: up
`, upAddr))

	want := func(reading, policy, upstream, writing, idle int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, gotIdle := g.srv.ConnStates()
			if st == [4]int64{reading, policy, upstream, writing} && gotIdle == idle {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("states %v idle %d, want reading %d policy %d upstream %d writing %d idle %d",
					st, gotIdle, reading, policy, upstream, writing, idle)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	idle := dialRaw(t, g.addr)
	idle.send("GET /fast HTTP/1.1\r\nHost: a\r\n\r\n")
	if r, body := idle.response("GET"); r.StatusCode != 200 || body != "ok" {
		t.Fatalf("idle connection's request: %d %q", r.StatusCode, body)
	}
	want(0, 0, 0, 0, 1)

	// Each step leaves one more connection in a state; the gauges add up.
	var held []*rawClient
	for i, step := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n",            // reading: the head is not complete
		"GET /hold HTTP/1.1\r\nHost: a\r\n\r\n",    // policy: suspended for ever
		"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n",    // upstream: no answer
		"GET /partial HTTP/1.1\r\nHost: a\r\n\r\n", // writing: the body is half relayed
	} {
		rc := dialRaw(t, g.addr)
		rc.send(step)
		held = append(held, rc)
		var w [4]int64
		for j := 0; j <= i; j++ {
			w[j] = 1
		}
		want(w[0], w[1], w[2], w[3], 1)
	}
	for _, rc := range held {
		rc.c.Close()
	}
	want(0, 0, 0, 0, 1)
}
