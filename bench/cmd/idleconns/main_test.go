package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestOpenAllHoldsKeepAliveConns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "Hello, World!")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	conns, failed := openAll(context.Background(), addr, "/", 20, 4, 10*time.Second)
	if failed != 0 || len(conns) != 20 {
		t.Fatalf("openAll: held %d, failed %d; want 20, 0", len(conns), failed)
	}
	if open := countOpen(conns); open != 20 {
		t.Fatalf("countOpen = %d, want 20", open)
	}
	for _, c := range conns[:5] {
		c.Close()
	}
	srv.CloseClientConnections()
	if open := countOpen(conns[5:]); open != 0 {
		t.Fatalf("countOpen after the server closed them = %d, want 0", open)
	}
}

func TestOneRequestRejectsConnectionClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if c, err := oneRequest(addr, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 5*time.Second); err == nil {
		c.Close()
		t.Fatal("oneRequest accepted a response with Connection: close")
	}
}
