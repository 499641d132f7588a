package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/internal/freeport"
)

// Regression tests for issue 10 (restarts, drains, edge cases). Each is
// named after the defect it pins.

// Bug 1: a restart could not bind its port while the previous server's
// closed connections were in TIME_WAIT (no SO_REUSEADDR).
func TestRestartBindsWhileClosedConnectionsAreInTimeWait(t *testing.T) {
	up := startUpstream(t, echoHandler)
	addr := freeport.Addr(t)
	yml := upstreamYAML("{listen}", routeAll, up.addr)
	g := startGatewayAt(t, addr, yml, nil)
	for i := 0; i < 5; i++ {
		rc := dialRaw(t, addr)
		rc.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 || !resp.Close {
			t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
		}
		rc.expectClosed(5 * time.Second) // the gateway closed first: its side is in TIME_WAIT
		rc.c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// At once, on the same address.
	srv, err := engine.NewServer(engine.Options{Listen: addr, Workers: 1}, g.srv.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	<-srv.Ready()
	resp, err := http.Get("http://" + addr + "/again")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the restart: %d", resp.StatusCode)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// slowRead reads a response to GET from c a little at a time and returns
// its status and how many body bytes came before EOF or an error.
func slowRead(c net.Conn, pause time.Duration) (int, int64, error) {
	br := bufio.NewReaderSize(c, 16<<10)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 16<<10)
	var got int64
	for {
		n, err := resp.Body.Read(buf)
		got += int64(n)
		if err == io.EOF {
			return resp.StatusCode, got, nil
		}
		if err != nil {
			return resp.StatusCode, got, err
		}
		time.Sleep(pause)
	}
}

// sizedBody answers size bytes with a Content-Length, written chunk bytes
// at a time.
func sizedBody(size int64, chunk int) http.HandlerFunc {
	buf := bytes.Repeat([]byte("s"), chunk)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		for left := size; left > 0; left -= int64(len(buf)) {
			if _, err := w.Write(buf[:min(int64(len(buf)), left)]); err != nil {
				return
			}
		}
	}
}

// Bug 2: a drain stopped the loops once every response was queued, so slow
// readers lost what was still in gnet's buffer.
func TestDrainDeliversEveryByteToSlowReaders(t *testing.T) {
	size := int64(4 << 20)
	if raceEnabled {
		size = 2 << 20
	}
	up := startUpstream(t, sizedBody(size, 64<<10))
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	const clients = 3
	type result struct {
		status int
		got    int64
		err    error
	}
	results := make(chan result, clients)
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
		go func() {
			st, got, err := slowRead(c, 3*time.Millisecond)
			results <- result{st, got, err}
		}()
	}
	// Drain while every download is under way.
	for up.requests.Load() < clients {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- g.srv.Shutdown(ctx) }()
	for i := 0; i < clients; i++ {
		r := <-results
		if r.err != nil || r.status != 200 || r.got != size {
			t.Errorf("slow reader: status %d, %d of %d bytes, %v", r.status, r.got, size, r.err)
		}
	}
	if err := <-drained; err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// Bug 3: a response in flight when the drain began went out without
// Connection: close (its head was not sent yet).
func TestDrainSendsConnectionCloseOnResponsesInFlight(t *testing.T) {
	release := make(chan struct{})
	var arrived sync.WaitGroup
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			arrived.Done()
			<-release
		}
		io.WriteString(w, r.URL.Path)
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	a := dialRaw(t, g.addr)
	b := dialRaw(t, g.addr)
	b.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\n") // b is accepted and kept alive
	if resp, _ := b.response("GET"); resp.Close {
		t.Fatal("keep-alive response before the drain says close")
	}
	arrived.Add(1)
	a.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	arrived.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- g.srv.Shutdown(ctx) }()
	for !g.srv.Draining() {
		time.Sleep(time.Millisecond)
	}
	arrived.Add(1)
	b.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n") // after the drain began, on a kept connection
	arrived.Wait()
	close(release)
	for name, rc := range map[string]*rawClient{"in flight at the drain": a, "after the drain began": b} {
		resp, body := rc.response("GET")
		if resp.StatusCode != 200 || body != "/wait" || !resp.Close {
			t.Errorf("%s: %d %q, Connection: close %v", name, resp.StatusCode, body, resp.Close)
		}
		rc.expectClosed(5 * time.Second)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}

// Bug 4: bytes sent in the same write as the Upgrade request never reached
// the upstream.
func TestWebSocketEarlyDataReachesUpstream(t *testing.T) {
	addr, _ := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(c, br) // echo
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, addr))
	rc := dialRaw(t, g.addr)
	rc.send("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\nEARLY")
	resp, _ := rc.response("GET")
	if resp.StatusCode != 101 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := make([]byte, 5)
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(rc.br, got); err != nil || string(got) != "EARLY" {
		t.Fatalf("early data echoed: %q %v", got, err)
	}
	rc.send("later")
	got = make([]byte, 5)
	if _, err := io.ReadFull(rc.br, got); err != nil || string(got) != "later" {
		t.Fatalf("tunnel after early data: %q %v", got, err)
	}
}

// Bug 5: CONNECT was forwarded to the upstream as an ordinary request.
func TestCONNECTIsAnsweredAtTheGateway(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01tls-bytes")
	resp, body := rc.response("GET")
	if resp.StatusCode != 405 || !strings.Contains(body, `"status":405`) || resp.Header.Get("Allow") == "" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
	}
	if !resp.Close {
		t.Fatal("CONNECT answered without Connection: close")
	}
	rc.expectClosed(5 * time.Second)
	if n := up.requests.Load(); n != 0 {
		t.Fatalf("CONNECT reached the upstream %d times", n)
	}
}

// Bug 6: pipelining past maxHeldInput reset the connection, losing the
// response in progress. Now the response completes with Connection: close
// and the connection ends with a FIN (no reset).
func TestPipelinePastTheHeldInputLimitEndsCleanly(t *testing.T) {
	pipelined := make(chan struct{})
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			// Answer once the pipeline was written, and the gateway had time
			// to read it past its limit.
			select {
			case <-pipelined:
				time.Sleep(300 * time.Millisecond)
			case <-time.After(20 * time.Second):
			}
		}
		io.WriteString(w, r.URL.Path)
	})
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	var pipeline bytes.Buffer
	pipeline.WriteString("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	for pipeline.Len() < 3<<19 { // 1.5 MiB of pipelined requests
		pipeline.WriteString("GET /p HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	wrote := make(chan error, 1)
	go func() {
		rc.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, err := rc.c.Write(pipeline.Bytes())
		close(pipelined)
		wrote <- err
	}()
	resp, body := rc.response("GET")
	if resp.StatusCode != 200 || body != "/slow" || !resp.Close {
		t.Fatalf("%d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("the gateway did not take the pipeline: %v", err)
	}
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(rc.br)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after the response: %d bytes, %v (want a clean EOF)", len(rest), err)
	}
}

// Bug 7: empty lines before a request-line (RFC 9112 §2.2) were refused.
func TestLeadingEmptyLinesBeforeTheRequestLineAreIgnored(t *testing.T) {
	up := startUpstream(t, echoHandler)
	g := startGateway(t, upstreamYAML("{listen}", routeAll, up.addr))
	rc := dialRaw(t, g.addr)
	rc.send("\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "GET /a" {
		t.Fatalf("one leading CRLF: %d %q", resp.StatusCode, body)
	}
	// A stray CRLF after a POST body, then the next request in a later write.
	rc.send("POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab\r\n")
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || body != "POST /b" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	time.Sleep(20 * time.Millisecond)
	rc.send("\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.response("GET"); resp.StatusCode != 200 || body != "GET /c" {
		t.Fatalf("after a stray CRLF: %d %q", resp.StatusCode, body)
	}
	// The empty line alone in the first packet of a connection.
	rc2 := dialRaw(t, g.addr)
	rc2.send("\r\n")
	time.Sleep(20 * time.Millisecond)
	rc2.send("GET /d HTTP/1.0\r\n\r\n")
	if resp, body := rc2.response("GET"); resp.StatusCode != 200 || body != "GET /d" {
		t.Fatalf("empty line alone first: %d %q", resp.StatusCode, body)
	}
	if n := up.requests.Load(); n != 4 {
		t.Fatalf("upstream saw %d requests, want 4", n)
	}
}

// Bug 8: the log of a 408 showed an empty method and the time since the
// timeout fired rather than since the head began.
func TestHeaderTimeoutLogShowsWhatCameAndHowLong(t *testing.T) {
	type record struct {
		status         int
		method, target string
		took           time.Duration
	}
	logs := make(chan record, 4)
	up := startUpstream(t, echoHandler)
	g := startGatewayAt(t, freeport.Addr(t), upstreamYAML("{listen}", `client: { header_timeout: 400ms }
`+routeAll, up.addr), func(o *engine.Options) {
		o.AccessLog = func(x *engine.Ctx) {
			logs <- record{x.ResponseStatus(), string(x.MethodName()), string(x.Target()),
				time.Duration(time.Now().UnixNano() - x.StartNanos())}
		}
	})
	rc := dialRaw(t, g.addr)
	rc.send("GET /slow-head HTTP/1.1\r\nHost: a\r\nX-Slow: ")
	resp, _ := rc.response("GET")
	if resp.StatusCode != 408 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case r := <-logs:
		if r.status != 408 || r.method != "GET" || r.target != "/slow-head" || r.took < 350*time.Millisecond {
			t.Fatalf("log of the 408: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no log record for the 408")
	}
}
