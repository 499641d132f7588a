//go:build !race

package engine_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
)

// BenchmarkProxyKeepAlive sends keep-alive requests one at a time through a
// proxy to an upstream that answers a fixed 13-byte body, with a raw client
// that allocates nothing. Allocations are the whole process's, so the
// figure is the proxy's. Beside Sluice, the simplest correct Go proxy:
// httputil.ReverseProxy.
func BenchmarkProxyKeepAlive(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
	up := fixedUpstream(b, resp)
	req := []byte(steadyReq)

	b.Run("impl=sluice", func(b *testing.B) {
		g := startGateway(b, upstreamYAML("{listen}", routeAll, up))
		respLen := probeLen(b, g.addr, req)
		benchRequests(b, g.addr, req, respLen)
	})
	b.Run("impl=httputil", func(b *testing.B) {
		target, _ := url.Parse("http://" + up)
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: rp}
		go srv.Serve(l)
		defer srv.Close()
		respLen := probeLen(b, l.Addr().String(), req)
		benchRequests(b, l.Addr().String(), req, respLen)
	})
}

// probeLen returns the length of the proxy's whole response to req.
func probeLen(b *testing.B, addr string, req []byte) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Write(req)
	buf := make([]byte, 4096)
	n, err := io.ReadAtLeast(c, buf, 1)
	for err == nil && n < len(buf) && !endsWithBody(buf[:n]) {
		var m int
		m, err = c.Read(buf[n:])
		n += m
	}
	return n
}

func endsWithBody(b []byte) bool {
	const body = "Hello, World!"
	return len(b) >= len(body) && string(b[len(b)-len(body):]) == body
}

func benchRequests(b *testing.B, addr string, req []byte, respLen int) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, respLen)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}
