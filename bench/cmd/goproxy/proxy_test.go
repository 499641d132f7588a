package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestProxyForwardsAndReusesUpstreamConns checks the one property the bench
// relies on beyond forwarding: sequential requests reuse one upstream
// connection, so "upstream connections opened" compares like with like.
func TestProxyForwardsAndReusesUpstreamConns(t *testing.T) {
	var accepted atomic.Int64
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.Path)
		_, _ = io.WriteString(w, "Hello, World!")
	}))
	upstream.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	upstream.Start()
	defer upstream.Close()

	front := httptest.NewServer(newProxy(strings.TrimPrefix(upstream.URL, "http://")))
	defer front.Close()

	client := front.Client()
	for i, path := range []string{"/", "/a/b", "/files/1k"} {
		resp, err := client.Get(front.URL + path)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d body: %v", i, err)
		}
		if resp.StatusCode != http.StatusOK || string(body) != "Hello, World!" {
			t.Fatalf("request %d: status %d body %q", i, resp.StatusCode, body)
		}
		if got := resp.Header.Get("X-Path"); got != path {
			t.Fatalf("request %d: upstream saw path %q, want %q", i, got, path)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("upstream accepted %d connections for 3 sequential requests, want 1", n)
	}
}

func TestBufferPoolReturnsFullSizeBuffers(t *testing.T) {
	var p bufferPool
	b := p.Get()
	if len(b) != copyBufferSize {
		t.Fatalf("Get: len %d, want %d", len(b), copyBufferSize)
	}
	p.Put(b[:10])
	if b2 := p.Get(); len(b2) != copyBufferSize {
		t.Fatalf("Get after Put of a resliced buffer: len %d, want %d", len(b2), copyBufferSize)
	}
	p.Put(make([]byte, 100)) // too small: dropped, must not panic or poison the pool
	if b3 := p.Get(); len(b3) != copyBufferSize {
		t.Fatalf("Get after Put of a small buffer: len %d", len(b3))
	}
}
