package policies_test

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"testing"
)

// fixedUpstream answers every request head with resp, without allocating
// per request, so that a process-wide malloc count measures the gateway.
func fixedUpstream(t testing.TB, resp []byte) string {
	t.Helper()
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
			go answerHeads(c, resp)
		}
	}()
	return l.Addr().String()
}

// answerHeads writes resp once per "\r\n\r\n" read (requests without bodies).
func answerHeads(c net.Conn, resp []byte) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	state := 0 // how much of "\r\n\r\n" the stream ends with
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
}

// steadyClient sends one request again and again on a keep-alive
// connection and reads each response into a fixed buffer, its length
// taken from its own head: a field whose digits change from one response
// to the next (X-RateLimit-Reset counting down past 10) must not shift the
// stream, as a length learned from the first response did.
type steadyClient struct {
	c       net.Conn
	req     []byte
	buf     []byte
	respLen int
}

// mallocsPerRequest runs n requests and returns the process's heap
// allocations per request over them (client, gateway and upstream
// together); warm the client up first.
func (sc *steadyClient) mallocsPerRequest(t testing.TB, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sc.run(t, n)
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n)
}

func newSteadyClient(t testing.TB, addr, req string) *steadyClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc := &steadyClient{c: c, req: []byte(req), buf: make([]byte, 64<<10)}
	// The first response: read until its head and Content-Length are in.
	if _, err := c.Write(sc.req); err != nil {
		t.Fatal(err)
	}
	n := 0
	for sc.respLen == 0 || n < sc.respLen {
		m, err := c.Read(sc.buf[n:])
		if err != nil {
			t.Fatalf("probe: %v after %q", err, sc.buf[:n])
		}
		n += m
		sc.respLen = wholeLength(sc.buf[:n])
	}
	if n != sc.respLen {
		t.Fatalf("probe: %d bytes, a response of %d", n, sc.respLen)
	}
	return sc
}

// wholeLength is the length of the response at the start of b (head and
// Content-Length body), or 0 while the head is incomplete.
func wholeLength(b []byte) int {
	s := string(b)
	end := indexOf(s, "\r\n\r\n")
	if end < 0 {
		return 0
	}
	head := s[:end]
	cl := 0
	if i := indexFold(head, "\r\ncontent-length: "); i >= 0 {
		for _, c := range head[i+len("\r\ncontent-length: "):] {
			if c < '0' || c > '9' {
				break
			}
			cl = cl*10 + int(c-'0')
		}
	}
	return end + 4 + cl
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func indexFold(s, lowerSub string) int {
	for i := 0; i+len(lowerSub) <= len(s); i++ {
		match := true
		for j := 0; j < len(lowerSub) && match; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			match = c == lowerSub[j]
		}
		if match {
			return i
		}
	}
	return -1
}

// run sends n requests and reads their responses.
func (sc *steadyClient) run(t testing.TB, n int) {
	for i := 0; i < n; i++ {
		if _, err := sc.c.Write(sc.req); err != nil {
			t.Fatal(err)
		}
		if err := sc.readResponse(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

// readResponse reads one response whole, without allocating: until its
// head is in, then to the end its Content-Length gives.
func (sc *steadyClient) readResponse() error {
	n, want := 0, 0
	for want == 0 || n < want {
		if n == len(sc.buf) {
			return fmt.Errorf("a response longer than %d bytes", len(sc.buf))
		}
		m, err := sc.c.Read(sc.buf[n:])
		n += m
		if want == 0 {
			want = responseLength(sc.buf[:n])
		}
		if err != nil && (want == 0 || n < want) {
			return err
		}
	}
	if n != want {
		return fmt.Errorf("%d bytes, a response of %d: the gateway answered ahead", n, want)
	}
	return nil
}

// responseLength is wholeLength without converting b to a string (the
// allocation tests count the client's allocations too).
func responseLength(b []byte) int {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return 0
	}
	head := b[:end]
	cl := 0
	for i := 0; i+len("\r\ncontent-length: ") <= len(head); i++ {
		if !bytes.EqualFold(head[i:i+len("\r\ncontent-length: ")], []byte("\r\ncontent-length: ")) {
			continue
		}
		for _, c := range head[i+len("\r\ncontent-length: "):] {
			if c < '0' || c > '9' {
				break
			}
			cl = cl*10 + int(c-'0')
		}
		break
	}
	return end + 4 + cl
}

const fixedResp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"

// The requests of the allocation tests and benchmarks.
const (
	plainReq = "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\n\r\n"
	corsReq  = "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nOrigin: https://app.example.com\r\n\r\n"
	prefReq  = "OPTIONS /api/v1/items HTTP/1.1\r\nHost: api.example.com\r\nOrigin: https://app.example.com\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n"
	idReq    = "GET /api/v1/items?id=42 HTTP/1.1\r\nHost: api.example.com\r\nX-Request-Id: 0f8fad5b-d9cb-469f-a165-70867728950e\r\nOrigin: https://a.example.org\r\n\r\n"
)

// The routes of the allocation tests and benchmarks, by name.
var benchPolicies = map[string]string{
	"none": "",
	"cors+request-id": `      - name: cors
        config: { allow_origins: ["https://app.example.com", "https://*.example.org"], allow_credentials: true, expose_headers: [X-Total], max_age: 1h }
      - name: request-id
`,
	"request-id-trusted": `      - name: cors
        config: { allow_origins: ["https://app.example.com", "https://*.example.org"] }
      - name: request-id
        config: { trust_incoming: true, format: uuid7 }
`,
	"response-rewrite": `      - name: request-id
      - name: response-rewrite
        config: { status: 203, headers: { set: { Content-Type: application/json } }, body: '{{"id":"{request_id}","status":{status}}}' }
`,
}

func policyGateway(t testing.TB, policies string) *gateway {
	up := fixedUpstream(t, []byte(fixedResp))
	yml := routeYAML(policies)
	if policies == "" {
		yml = yml[:len(yml)-len("    policies:\n")]
	}
	return startGateway(t, up, yml)
}
