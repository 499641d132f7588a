package engine_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

const routeAll = `routes:
  - name: all
    match: { paths: ["/*"] }
    upstream: up
`

func echoHandler(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Path", r.URL.RequestURI())
	w.Header().Set("X-Body-Bytes", strconv.FormatInt(n, 10))
	w.Header().Set("X-Got-XFF", r.Header.Get("X-Forwarded-For"))
	w.Header().Set("X-Got-Host", r.Host)
	w.Header().Set("X-Got-Connection", r.Header.Get("Connection"))
	fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
}

func TestProxyKeepAliveReusesUpstreamConnections(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for i := 0; i < 300; i++ {
		resp, err := client.Get("http://" + g.addr + "/k/" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "GET /k/"+strconv.Itoa(i) {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Got-XFF"); got != "127.0.0.1" {
			t.Fatalf("X-Forwarded-For = %q", got)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("upstream saw %d connections for 300 sequential requests, want 1", n)
	}
	st := g.srv.Stats()
	if st.UpstreamDials != 1 || st.UpstreamReused != 299 {
		t.Fatalf("dials=%d reused=%d", st.UpstreamDials, st.UpstreamReused)
	}
	if st.Requests != 300 {
		t.Fatalf("requests=%d, want 300", st.Requests)
	}
}

func TestProxyPipelinedRequestsAnsweredInOrder(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprint(w, r.URL.Path)
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	var reqs strings.Builder
	paths := []string{"/slow", "/a", "/b", "/slow", "/c"}
	for _, p := range paths {
		fmt.Fprintf(&reqs, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
	}
	rc.send(reqs.String())
	for _, p := range paths {
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != p {
			t.Fatalf("want %s, got %d %q", p, resp.StatusCode, body)
		}
	}
}

func TestProxyChunkedBothWays(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if len(r.TransferEncoding) == 0 || r.TransferEncoding[0] != "chunked" {
			w.WriteHeader(400)
			return
		}
		for i := 0; i < 3; i++ {
			w.Write(body) // unknown length: net/http answers chunked
			w.(http.Flusher).Flush()
		}
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	resp, body := rc.response("POST")
	if resp.StatusCode != 200 || body != strings.Repeat("hello world", 3) {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if len(resp.TransferEncoding) == 0 {
		t.Fatalf("response was not chunked: %v", resp.Header)
	}
	// HTTP/1.0 client: the chunked response is de-chunked and ends with the connection.
	rc2 := dialRaw(t, g.addr)
	rc2.send("POST /c HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
	resp, body = rc2.response("POST")
	if resp.StatusCode != 400 { // upstream requires a chunked request
		t.Fatalf("want the upstream's 400, got %d", resp.StatusCode)
	}
	_ = body
}

func TestProxyHTTP10ClientGetsDechunkedBody(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("part1-"))
		w.(http.Flusher).Flush()
		w.Write([]byte("part2"))
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(all)
	if !strings.HasSuffix(s, "\r\n\r\npart1-part2") || strings.Contains(strings.ToLower(s), "transfer-encoding") {
		t.Fatalf("response to HTTP/1.0 client:\n%s", s)
	}
}

func TestProxyUpstreamDownAnswers502JSON(t *testing.T) {
	dead := freeport.Addr(t) // nothing listens there
	g := startGateway(t, upstreamYAML("{listen}", routeAll, dead))
	rc := dialRaw(t, g.addr)
	rc.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	var e struct {
		Status    int    `json:"status"`
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body is not JSON: %q", body)
	}
	if e.Status != 502 || e.Error != "upstream connect refused" || e.RequestID == "" {
		t.Fatalf("error body %+v", e)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("content-type %q", resp.Header.Get("Content-Type"))
	}
	// The connection stays usable after an error with intact framing. The
	// only target is now marked down by passive health (max_fails 1), so the
	// answer is 503 at once, without a dial.
	rc.send("GET /y HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 503 || !strings.Contains(body, "no healthy upstream") {
		t.Fatalf("second request: %d %s", resp.StatusCode, body)
	}
}

func TestProxyUpstreamSlowAnswers504(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	g := startGateway(t, upstreamYAML("{listen}", `    timeouts: { read: 300ms }
    retries: { tries: 1 }
`+routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	start := time.Now()
	rc.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 504 || !strings.Contains(body, "upstream timed out") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("504 took %v", el)
	}
}

func TestProxyUpstreamClosesMidResponse(t *testing.T) {
	addr, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly-this")
		// and close: the client must see the connection end, not hang
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("truncated body read without error: %q", body)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("client hangs after the upstream closed mid-response")
	}
	if !strings.HasPrefix(string(body), "only-this") {
		t.Fatalf("body %q", body)
	}
}

func TestProxyMalformedRequestsAre400AndNotForwarded(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	cases := map[string]struct {
		req    string
		status int
	}{
		"CL.TE smuggling":    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		"bare LF":            {"GET / HTTP/1.1\nHost: a\n\n", 400},
		"no Host":            {"GET / HTTP/1.1\r\n\r\n", 400},
		"space before colon": {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		"bad version":        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		"obfuscated TE":      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
		"two CL":             {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
		"huge head":          {"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\n", 431},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, g.addr)
			rc.send(tc.req)
			resp, body := rc.response("GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if !resp.Close {
				t.Fatal("framing error without Connection: close")
			}
			rc.expectClosed(5 * time.Second)
		})
	}
	if n := up.requests.Load(); n != 0 {
		t.Fatalf("%d malformed requests reached the upstream", n)
	}
}

func TestProxyBodyLimitAnswers413(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/*"] }
    upstream: up
    max_body: 1KiB
`, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n")
	resp, _ := rc.response("POST")
	if resp.StatusCode != 413 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rc2 := dialRaw(t, g.addr)
	rc2.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("x", 2048) + "\r\n0\r\n\r\n")
	resp, _ = rc2.response("POST")
	if resp.StatusCode != 413 {
		t.Fatalf("chunked over max_body: status %d", resp.StatusCode)
	}
}

func TestProxyExpectContinue(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := rc.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("want 100 Continue first, got %q %v", line, err)
	}
	if blank, _ := rc.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("interim response not terminated: %q", blank)
	}
	rc.send("hello")
	resp, body := rc.response("PUT")
	if resp.StatusCode != 200 || body != "PUT /up" || resp.Header.Get("X-Body-Bytes") != "5" {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestProxyWebSocketTunnel(t *testing.T) {
	addr, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(req.Header.Get("Connection"), "upgrade") {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(c, br) // echo every byte back
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, _ := rc.response("GET")
	if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	for i := 0; i < 20; i++ {
		msg := fmt.Sprintf("frame-%02d|", i)
		rc.send(msg)
		buf := make([]byte, len(msg))
		rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(rc.br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %d: %q %v", i, buf, err)
		}
	}
	big := bytes.Repeat([]byte("w"), 4<<20)
	go rc.c.Write(big)
	got := make([]byte, len(big))
	rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(rc.br, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("4 MiB through the tunnel: %v", err)
	}
}

func TestProxyStripPrefixAndHostModes(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/api/*"] }
    upstream: up
    strip_prefix: true
    host: upstream
  - match: { paths: ["/lit/*"] }
    upstream: up
    host: internal.example
`, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /api/users/7?q=1 HTTP/1.1\r\nHost: public.example\r\n\r\n")
	resp, body := rc.response("GET")
	if body != "GET /users/7?q=1" || resp.Header.Get("X-Got-Host") != up.addr {
		t.Fatalf("strip/host upstream: %q host=%q", body, resp.Header.Get("X-Got-Host"))
	}
	rc.send("GET /lit/x HTTP/1.1\r\nHost: public.example\r\n\r\n")
	resp, body = rc.response("GET")
	if body != "GET /lit/x" || resp.Header.Get("X-Got-Host") != "internal.example" {
		t.Fatalf("literal host: %q host=%q", body, resp.Header.Get("X-Got-Host"))
	}
}

func TestNoRouteIs404(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `routes:
  - match: { paths: ["/only"] }
    upstream: up
`, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /other HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.response("GET")
	if resp.StatusCode != 404 || !strings.Contains(body, `"no route matched"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestProxyLargeBodiesBothWays(t *testing.T) {
	size := int64(100 << 20)
	if raceEnabled {
		size = 24 << 20 // the race detector makes 100 MiB take minutes; the bound is the same
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB pattern
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		for left := size; left > 0; left -= int64(len(payload)) {
			w.Write(payload[:min(int64(len(payload)), left)])
		}
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	heap := startHeapWatch()

	// Upload.
	pr, pw := io.Pipe()
	want := sha256.New()
	go func() {
		for left := size; left > 0; left -= int64(len(payload)) {
			chunk := payload[:min(int64(len(payload)), left)]
			want.Write(chunk)
			pw.Write(chunk)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", "http://"+g.addr+"/up", pr)
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if exp := fmt.Sprintf("%d %x", size, want.Sum(nil)); string(body) != exp {
		t.Fatalf("upload: got %q want %q", body, exp)
	}

	// Download.
	resp, err = http.Get("http://" + g.addr + "/down")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if peak := heap.stop(); peak > 64<<20 {
		t.Fatalf("heap grew by %d MiB while streaming %d MiB each way", peak>>20, size>>20)
	}
}

func TestProxySlowReaderKeepsHeapBounded(t *testing.T) {
	size := int64(48 << 20)
	if raceEnabled {
		size = 16 << 20
	}
	up := startUpstream(t, sizedBody(size, 256<<10))
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	heap := startHeapWatch()
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(16 << 10)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	// Read slowly at first (the gateway must pause), then fast to finish.
	buf := make([]byte, 16<<10)
	var got int64
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; got < size+100 && time.Now().Before(deadline); i++ {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			break
		}
		if i < 200 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if got < size {
		t.Fatalf("read %d of %d bytes", got, size)
	}
	if g.srv.Stats().Handoffs == 0 {
		t.Fatal("a slow reader never made the gateway hand the stream off")
	}
	if peak := heap.stop(); peak > 32<<20 {
		t.Fatalf("heap grew by %d MiB for one slow reader of %d MiB", peak>>20, size>>20)
	}
}

func TestProxyReloadUnderLoadDropsNothing(t *testing.T) {
	up := startUpstream(t, echoHandler)
	up2 := startUpstream(t, echoHandler)
	cfgA := upstreamYAML("{listen}", routeAll, up.addr)
	cfgB := upstreamYAML("{listen}", routeAll, up2.addr)
	g := startGateway(t, cfgA)
	load := startLoad("http://"+g.addr+"/r", 4)
	for i := 0; i < 20; i++ {
		if i%2 == 0 {
			g.reload(t, cfgB)
		} else {
			g.reload(t, cfgA)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if done, failed, firstErr := load.stop(); failed != 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %v", failed, done, firstErr)
	}
	if up.requests.Load() == 0 || up2.requests.Load() == 0 {
		t.Fatalf("both configs should have served: %d / %d", up.requests.Load(), up2.requests.Load())
	}
}

func TestClientHeaderTimeoutAnswers408(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", `client: { header_timeout: 300ms }
`+routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
	resp, _ := rc.response("GET")
	if resp.StatusCode != 408 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rc.expectClosed(5 * time.Second)
}

func TestRetryOnAnotherTargetWhenOneIsDown(t *testing.T) {
	up := startUpstream(t, echoHandler)
	dead := freeport.Addr(t)
	g := startGateway(t, upstreamYAML("{listen}", routeAll, dead, up.addr))
	client := &http.Client{}
	for i := 0; i < 20; i++ {
		resp, err := client.Get("http://" + g.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d with one live target", i, resp.StatusCode)
		}
	}
}

func TestProxySlowUpstreamReaderKeepsHeapBounded(t *testing.T) {
	size := int64(48 << 20)
	if raceEnabled {
		size = 16 << 20
	}
	// The upstream reads the upload slowly at first, then fast, and answers
	// with the byte count; the client keeps the connection for a second request.
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 16<<10)
		var n int64
		for i := 0; ; i++ {
			m, err := r.Body.Read(buf)
			n += int64(m)
			if err != nil {
				break
			}
			if i < 150 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		fmt.Fprintf(w, "%d", n)
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	heap := startHeapWatch()
	rc := dialRaw(t, g.addr)
	go func() {
		fmt.Fprintf(rc.c, "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
		chunk := bytes.Repeat([]byte("u"), 256<<10)
		for left := size; left > 0; left -= int64(len(chunk)) {
			if _, err := rc.c.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
				return
			}
		}
	}()
	resp, body := rc.response("PUT")
	if resp.StatusCode != 200 || body != strconv.FormatInt(size, 10) {
		t.Fatalf("upload: %d %q", resp.StatusCode, body)
	}
	if g.srv.Stats().Handoffs == 0 {
		t.Fatal("a slow upstream reader never made the gateway hand the client off")
	}
	// The client came back to the event loop: the connection still works.
	rc.send("GET /again HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "0" {
		t.Fatalf("request after the upload: %d %q", resp.StatusCode, body)
	}
	if peak := heap.stop(); peak > 32<<20 {
		t.Fatalf("heap grew by %d MiB for one fast client uploading %d MiB to a slow upstream", peak>>20, size>>20)
	}
}

func TestIdleUpstreamConnectionsExpireAndClosedOnesAreNotReused(t *testing.T) {
	// The upstream closes idle keep-alive connections itself.
	up := startUpstream(t, echoHandler, func(s *http.Server) { s.IdleTimeout = 200 * time.Millisecond })
	g := startGateway(t, upstreamYAML("{listen}", `    pool: { idle_timeout: 5s }
`+routeAll, up.addr))
	get := func() {
		t.Helper()
		resp, err := http.Get("http://" + g.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	get()
	time.Sleep(600 * time.Millisecond) // the upstream closed the pooled connection meanwhile
	get()
	if d := g.srv.Stats().UpstreamDials; d != 2 {
		t.Fatalf("dials = %d: a connection the upstream closed was reused or not detected", d)
	}
	if r := g.srv.Stats().UpstreamRetries; r != 0 {
		t.Fatalf("retries = %d: the closed connection should have left the pool before use", r)
	}

	up2 := startUpstream(t, echoHandler)
	g2 := startGateway(t, upstreamYAML("{listen}", `    pool: { idle_timeout: 300ms }
`+routeAll, up2.addr))
	for i := 0; i < 2; i++ {
		resp, err := http.Get("http://" + g2.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Idle past idle_timeout; expiry runs every second.
		time.Sleep(1500 * time.Millisecond)
	}
	if g2.srv.Stats().UpstreamDials != 2 {
		t.Fatal("the gateway never closed an upstream connection idle past idle_timeout")
	}
}
