package main

import (
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// copyBufferSize is the size of the buffers ReverseProxy copies bodies
// through; pooled so a 64 KiB body costs no allocation per request.
const copyBufferSize = 32 << 10

// bufferPool implements httputil.BufferPool over sync.Pool. Safe for
// concurrent use.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, copyBufferSize)
}

func (p *bufferPool) Put(b []byte) {
	if cap(b) < copyBufferSize {
		return
	}
	b = b[:copyBufferSize]
	p.pool.Put(&b)
}

// newTransport returns the tuned Transport: keep-alive connections to the one
// upstream are never dropped for lack of room or by a short idle timeout,
// which is what nginx's `keepalive 1024` and HAProxy's `http-reuse always`
// give their peers in the bench.
func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
		MaxIdleConns:          0, // no global cap
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       3600 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: 0,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}

// newProxy returns a ReverseProxy that forwards every request to upstream
// (host:port) over plain HTTP/1.1. The client's Host header is passed on
// unchanged (the bench's origin ignores it). The proxy is safe for concurrent
// use, as http.Server requires.
func newProxy(upstream string) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = upstream
			// ReverseProxy would add X-Forwarded-For only via SetXForwarded;
			// nginx and HAProxy add nothing by default, so neither do we.
		},
		Transport:  newTransport(),
		BufferPool: &bufferPool{},
		ErrorLog:   nil,
	}
}
