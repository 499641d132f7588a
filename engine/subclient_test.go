package engine

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers each request head it reads with answer(n), n counting
// requests on the server; close after the answer when closeAfter says so.
func rawServer(t *testing.T, answer func(n int, head string) (resp string, closeAfter bool)) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var conns atomic.Int32
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						head.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					if i := strings.Index(strings.ToLower(head.String()), "content-length: "); i >= 0 {
						var cl int
						for _, ch := range head.String()[i+len("content-length: "):] {
							if ch < '0' || ch > '9' {
								break
							}
							cl = cl*10 + int(ch-'0')
						}
						io.CopyN(io.Discard, br, int64(cl))
					}
					resp, closeAfter := answer(int(n.Add(1)), head.String())
					io.WriteString(c, resp)
					if closeAfter {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String(), &conns
}

func testPool() *subPool {
	return &subPool{connect: time.Second, maxIdle: 4, idle: map[string][]*subConn{}}
}

func TestSubClientFramings(t *testing.T) {
	for _, tc := range []struct {
		name, resp, body string
		keep             bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello", "hello", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nT: v\r\n\r\n", "hello", true},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nhello", "hello", false},
		{"interim answers first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", true},
		{"no body", "HTTP/1.1 204 No Content\r\n\r\n", "", true},
		{"connection close", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "hello", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, conns := rawServer(t, func(int, string) (string, bool) { return tc.resp, !tc.keep })
			p := testPool()
			for i := 0; i < 2; i++ {
				r := doSubRequest(context.Background(), p, &SubRequest{Target: "/x"}, addr, 2*time.Second)
				if r.Err != nil || r.Status/100 != 2 || string(r.Body) != tc.body {
					t.Fatalf("request %d: %d %q %v", i, r.Status, r.Body, r.Err)
				}
				if tc.name == "length" && strings.Join(r.Header["X-A"], ",") != "1,2" {
					t.Fatalf("header %v", r.Header)
				}
			}
			if want := int32(1); !tc.keep {
				want = 2
				if conns.Load() != want {
					t.Fatalf("%d connections, want %d", conns.Load(), want)
				}
			} else if conns.Load() != want {
				t.Fatalf("%d connections for two exchanges that keep it alive", conns.Load())
			}
		})
	}
}

// A kept connection the upstream closed while idle: the next GET goes on
// a new one instead of failing.
func TestSubClientReplacesAClosedKeptConnection(t *testing.T) {
	var requests atomic.Int32
	addr, conns := rawServer(t, func(int, string) (string, bool) {
		requests.Add(1)
		// keep-alive announced, then the server closes anyway (its idle timeout)
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true
	})
	p := testPool()
	for i := 0; i < 3; i++ {
		time.Sleep(20 * time.Millisecond) // the close reaches us
		if r := doSubRequest(context.Background(), p, &SubRequest{}, addr, 2*time.Second); r.Err != nil || string(r.Body) != "ok" {
			t.Fatalf("request %d: %v", i, r.Err)
		}
	}
	if conns.Load() != 3 {
		t.Fatalf("%d connections", conns.Load())
	}
	// A POST is not sent again on a new connection: it fails, and the
	// caller's retry policy (lb's, for non-idempotent methods) decides.
	time.Sleep(20 * time.Millisecond)
	r := doSubRequest(context.Background(), p, &SubRequest{Method: "POST", Body: []byte("x")}, addr, 2*time.Second)
	if r.Err == nil || requests.Load() != 3 {
		t.Fatalf("POST on a closed kept connection: err %v, %d requests reached the server (want an error and 3)", r.Err, requests.Load())
	}
}

func TestSubClientLimitsAndErrors(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("x", 100)
	addr, _ := rawServer(t, func(int, string) (string, bool) { return big, false })
	p := testPool()
	r := doSubRequest(context.Background(), p, &SubRequest{MaxBody: 10}, addr, 2*time.Second)
	if !errors.Is(r.Err, ErrSubResponseTooLarge) || r.Status != 200 {
		t.Fatalf("over MaxBody: %d %v", r.Status, r.Err)
	}
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + strings.Repeat("x", 100) + "\r\n0\r\n\r\n"
	addr2, _ := rawServer(t, func(int, string) (string, bool) { return chunked, false })
	if r := doSubRequest(context.Background(), p, &SubRequest{MaxBody: 10}, addr2, 2*time.Second); !errors.Is(r.Err, ErrSubResponseTooLarge) {
		t.Fatalf("chunked over MaxBody: %v", r.Err)
	}
	bad := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"
	addr3, _ := rawServer(t, func(int, string) (string, bool) { return bad, false })
	if r := doSubRequest(context.Background(), p, &SubRequest{}, addr3, 2*time.Second); r.Err == nil || !strings.Contains(r.Err.Error(), "bad response head") {
		t.Fatalf("conflicting lengths: %v", r.Err)
	}
	// Nothing listens: a dial error (health: a connect failure).
	dead := func() string { l, _ := net.Listen("tcp", "127.0.0.1:0"); a := l.Addr().String(); l.Close(); return a }()
	if r := doSubRequest(context.Background(), p, &SubRequest{}, dead, 2*time.Second); !isConnectError(r.Err) {
		t.Fatalf("dead address: %v", r.Err)
	}
	// No answer in time: context.DeadlineExceeded (health: a timeout).
	silent, _ := rawServer(t, func(int, string) (string, bool) { time.Sleep(2 * time.Second); return "", true })
	if r := doSubRequest(context.Background(), p, &SubRequest{}, silent, 100*time.Millisecond); !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Fatalf("silent upstream: %v", r.Err)
	}
	// The request ends (client gone): context.Canceled at once.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if r := doSubRequest(ctx, p, &SubRequest{}, silent, 5*time.Second); !errors.Is(r.Err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Fatalf("cancelled: %v after %v", r.Err, time.Since(start))
	}
}

func TestSubRequestHeadRefusesInjection(t *testing.T) {
	for _, sr := range []SubRequest{
		{Target: "/a b"},
		{Target: "/a\r\nX: y"},
		{Target: "a"},
		{Host: "h\r\nX: y"},
		{Method: "G T"},
		{Header: http.Header{"X-A": {"v\r\nX-Injected: 1"}}},
		{Header: http.Header{"Bad Name": {"v"}}},
	} {
		if _, err := appendSubRequestHead(nil, &sr, "127.0.0.1:1"); !errors.Is(err, errSubBadRequest) {
			t.Errorf("%+v: %v", sr, err)
		}
	}
	head, err := appendSubRequestHead(nil, &SubRequest{Method: "POST", Target: "/p?q=1", Host: "api", Header: http.Header{
		"X-A": {"1"}, "Content-Length": {"99"}, "Connection": {"close"}, "User-Agent": {""},
	}}, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /p?q=1 HTTP/1.1\r\nHost: api\r\nX-A: 1\r\nContent-Length: 0\r\n\r\n"
	if string(head) != want {
		t.Fatalf("head %q, want %q", head, want)
	}
}
