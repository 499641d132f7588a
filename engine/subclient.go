package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/http1"
)

// The mirrors' HTTP/1.1 client (Ctx.Mirror; Subrequests run on the worker's
// loop, subloop.go, and share the helpers at the end of this file). An
// exchange runs on one offload goroutine from start to end: it takes an idle connection of its
// upstream (or dials one), writes the head and body in one write, and
// reads the response with the engine's own parsers (http1.Response,
// http1.ChunkedDecoder). net/http's client, used before, moved every
// exchange across its connection's read and write goroutines and cost
// about twice the CPU (the aggregate cell in docs/benchmarks.md).
//
// Connections are kept per upstream and address, at most the upstream's
// pool.max_idle per address, and closed after subIdleTimeout unused. A
// connection goes back to its pool only after a complete response that
// allows keep-alive, with nothing read past it.

// subIdleTimeout closes a sub-request connection left unused that long.
const subIdleTimeout = 60 * time.Second

// subRespLimits bound a sub-request's response head, as the proxy's do.
var subRespLimits = http1.Limits{MaxHeadBytes: 64 << 10, MaxFields: 200, MaxFieldLine: 32 << 10}

// errSubBadRequest: the SubRequest cannot be written as HTTP/1.1 (a
// field, target or host with bytes the protocol forbids).
var errSubBadRequest = errors.New("engine: invalid sub-request")

// subPool is one upstream's sub-request connections (or the pool of plain
// addresses), by address. Safe for concurrent use.
type subPool struct {
	connect time.Duration
	maxIdle int
	mu      sync.Mutex
	idle    map[string][]*subConn
	closed  bool
}

// subConn is a kept connection and its read buffer.
type subConn struct {
	c        net.Conn
	buf      []byte
	lastUsed time.Time
}

// get returns an idle connection to addr (the most recently used), or nil.
func (p *subPool) get(addr string) *subConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[addr]
	for len(list) > 0 {
		sc := list[len(list)-1]
		list = list[:len(list)-1]
		if time.Since(sc.lastUsed) < subIdleTimeout {
			p.idle[addr] = list
			return sc
		}
		sc.c.Close()
	}
	p.idle[addr] = list
	return nil
}

// put keeps sc for the next sub-request to addr, or closes it when the pool
// is full or closed.
func (p *subPool) put(addr string, sc *subConn) {
	sc.lastUsed = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle[addr]) >= p.maxIdle {
		p.mu.Unlock()
		sc.c.Close()
		return
	}
	p.idle[addr] = append(p.idle[addr], sc)
	p.mu.Unlock()
}

// prune closes the connections idle for subIdleTimeout (all of them when
// all is set, and the pool keeps none after that).
func (p *subPool) prune(all bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = p.closed || all
	for addr, list := range p.idle {
		kept := list[:0]
		for _, sc := range list {
			if all || time.Since(sc.lastUsed) >= subIdleTimeout {
				sc.c.Close()
				continue
			}
			kept = append(kept, sc)
		}
		if len(kept) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = kept
		}
	}
}

// subClients holds one pool per upstream name ("" for plain addresses).
type subClients struct {
	mu      sync.Mutex
	pools   map[string]*subPool
	janitor bool
}

// subPoolFor returns u's pool (nil: the plain addresses'), made on first use
// with the upstream's pool size and connect timeout.
func (s *Server) subPoolFor(u *Upstream) *subPool {
	name, maxIdle, connect := "", 64, time.Duration(connectTimeoutOf(u))
	if u != nil {
		name, maxIdle = u.Name, u.maxIdle
	}
	sc := &s.sub
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if p := sc.pools[name]; p != nil {
		return p
	}
	if sc.pools == nil {
		sc.pools = make(map[string]*subPool)
	}
	p := &subPool{connect: connect, maxIdle: max(maxIdle, 1), idle: make(map[string][]*subConn)}
	sc.pools[name] = p
	if !sc.janitor {
		sc.janitor = true
		go s.subJanitor()
	}
	return p
}

// subJanitor closes idle sub-request connections as they expire, and all
// of them when the server stops.
func (s *Server) subJanitor() {
	tick := time.NewTicker(subIdleTimeout / 4)
	defer tick.Stop()
	each := func(all bool) {
		s.sub.mu.Lock()
		pools := make([]*subPool, 0, len(s.sub.pools))
		for _, p := range s.sub.pools {
			pools = append(pools, p)
		}
		s.sub.mu.Unlock()
		for _, p := range pools {
			p.prune(all)
		}
	}
	for {
		select {
		case <-tick.C:
			each(false)
		case <-s.stopped:
			each(true)
			return
		}
	}
}

// doSubRequest runs one HTTP exchange off the loop. A connection kept from
// an earlier exchange that turns out closed by the upstream (no byte of
// answer) is replaced by a new one once, for idempotent methods.
func doSubRequest(ctx context.Context, pool *subPool, sr *SubRequest, addr string, timeout time.Duration) SubResponse {
	head, err := appendSubRequestHead(nil, sr, addr)
	if err != nil {
		return SubResponse{Err: err}
	}
	method := subMethod(sr.Method)
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for attempt := 0; ; attempt++ {
		sc := pool.get(addr)
		reused := sc != nil
		if sc == nil {
			d := net.Dialer{Timeout: pool.connect, Deadline: deadline}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return SubResponse{Err: subError(ctx, err)}
			}
			sc = &subConn{c: c, buf: make([]byte, 0, 16<<10)}
		}
		resp, keep, answered, err := sc.exchange(ctx, head, sr, method, deadline)
		switch {
		case err == nil && keep:
			pool.put(addr, sc)
		default:
			sc.c.Close()
		}
		if err != nil && reused && !answered && attempt == 0 && method.Idempotent() && ctx.Err() == nil {
			continue // the upstream closed the kept connection
		}
		return subResult(ctx, resp, err)
	}
}

// subResult is an exchange's SubResponse: its error in the terms callers
// test (subError), a body over its limit aside.
func subResult(ctx context.Context, resp SubResponse, err error) SubResponse {
	if err != nil && !errors.Is(err, ErrSubResponseTooLarge) {
		return SubResponse{Err: subError(ctx, err)}
	}
	resp.Err = err
	return resp
}

// subError says why an exchange failed in the terms callers test:
// context.Canceled when the request ended, context.DeadlineExceeded for a
// timeout, else the error itself (a dial error is a *net.OpError "dial").
func subError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, errSubBadRequest) {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return context.DeadlineExceeded
		}
		return cerr
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// exchange writes the request on sc and reads the response. keep says the
// connection may serve another exchange; answered that a response byte
// came (a failure before is a closed kept connection).
func (sc *subConn) exchange(ctx context.Context, head []byte, sr *SubRequest, method http1.Method, deadline time.Time) (resp SubResponse, keep, answered bool, err error) {
	c := sc.c
	// The request's end (client gone) interrupts the exchange at once.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && ctx.Err() != nil {
			keep = false // the deadline was moved: the connection is done
		}
		if keep {
			c.SetDeadline(time.Time{})
		}
	}()
	if err = sc.send(head, sr, deadline); err != nil {
		return resp, false, false, err
	}
	return sc.receive(sr, method)
}

// send writes the request, head and body in one write, with the
// exchange's deadline set.
func (sc *subConn) send(head []byte, sr *SubRequest, deadline time.Time) error {
	sc.c.SetDeadline(deadline)
	msg := head
	if len(sr.Body) > 0 {
		msg = append(head[:len(head):len(head)], sr.Body...)
	}
	_, err := sc.c.Write(msg)
	return err
}

// receive reads the response to the request send wrote.
func (sc *subConn) receive(sr *SubRequest, method http1.Method) (resp SubResponse, keep, answered bool, err error) {
	c := sc.c
	var r http1.Response
	r.Limits = subRespLimits
	r.Reset()
	buf := sc.buf[:0]
	for {
		n, perr := r.Parse(buf, method)
		if perr != nil {
			return resp, false, len(buf) > 0, badSubHead(perr)
		}
		if n == 0 {
			if len(buf) == cap(buf) {
				if cap(buf) >= subRespLimits.MaxHeadBytes {
					return resp, false, true, fmt.Errorf("engine: sub-request: response head over %d bytes", subRespLimits.MaxHeadBytes)
				}
				buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
			}
			m, rerr := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if rerr != nil && m == 0 {
				if rerr == io.EOF {
					rerr = io.ErrUnexpectedEOF
				}
				return resp, false, len(buf) > 0, rerr
			}
			continue
		}
		if interimStatus(r.Status) {
			buf = buf[:copy(buf, buf[n:])]
			r.Reset()
			continue
		}
		if r.Upgrade {
			return resp, false, true, errSubUpgrade
		}
		resp.Status = r.Status
		if !sr.NoHeader {
			resp.Header = subHeader(&r, buf)
		}
		rest := buf[n:]
		var body []byte
		var done bool
		body, rest, done, err = readSubBody(c, &r, buf, rest, subMaxBody(sr))
		sc.buf = buf[:0]
		resp.Body = body
		if err != nil {
			return resp, false, true, err
		}
		return resp, done && r.KeepAlive && len(rest) == 0, true, nil
	}
}

// readSubBody reads the response body after the head: from rest (bytes read
// with the head), then from c. done says the body ended where its framing
// said (the connection can be reused when nothing follows it).
// scratch is the connection's read buffer: rest is in it, and it is read
// into again once rest is used up.
func readSubBody(c net.Conn, r *http1.Response, scratch, rest []byte, maxBody int64) (body, left []byte, done bool, err error) {
	scratch = scratch[:cap(scratch)]
	more := func() ([]byte, error) {
		n, err := c.Read(scratch)
		if n > 0 {
			return scratch[:n], nil
		}
		return nil, err
	}
	switch r.Body {
	case http1.BodyNone:
		return nil, rest, true, nil
	case http1.BodyLength:
		if r.ContentLength > maxBody {
			return nil, nil, false, ErrSubResponseTooLarge
		}
		body = make([]byte, 0, r.ContentLength)
		take := min(int64(len(rest)), r.ContentLength)
		body, rest = append(body, rest[:take]...), rest[take:]
		for int64(len(body)) < r.ContentLength {
			b, err := more()
			if err != nil {
				return nil, nil, false, unexpectedEOF(err)
			}
			take := min(int64(len(b)), r.ContentLength-int64(len(body)))
			body, rest = append(body, b[:take]...), b[take:]
		}
		return body, rest, true, nil
	case http1.BodyChunked:
		var d http1.ChunkedDecoder
		src := rest
		for {
			for len(src) > 0 && !d.Done() {
				n, data, err := d.Decode(src)
				if err != nil {
					return nil, nil, false, fmt.Errorf("engine: sub-request: bad chunked body: %w", err)
				}
				if int64(len(body)+len(data)) > maxBody {
					return nil, nil, false, ErrSubResponseTooLarge
				}
				body, src = append(body, data...), src[n:]
			}
			if d.Done() {
				return body, src, true, nil
			}
			b, err := more()
			if err != nil {
				return nil, nil, false, unexpectedEOF(err)
			}
			src = b
		}
	}
	// Until the upstream closes.
	body = append(body, rest...)
	for {
		if int64(len(body)) > maxBody {
			return nil, nil, false, ErrSubResponseTooLarge
		}
		b, err := more()
		if err == io.EOF {
			return body, nil, false, nil
		}
		if err != nil {
			return nil, nil, false, err
		}
		body = append(body, b...)
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendSubRequestHead writes sr's request head for addr: the request
// line, Host, the caller's fields (checked as the proxy checks edits),
// and Content-Length when there is a body or the method expects one. No
// User-Agent is added: the caller's, if any, is sent.
func appendSubRequestHead(dst []byte, sr *SubRequest, addr string) ([]byte, error) {
	method := sr.Method
	if method == "" {
		method = http.MethodGet
	}
	target := sr.Target
	if target == "" {
		target = "/"
	}
	host := sr.Host
	if host == "" {
		host = addr
	}
	if !http1.ValidFieldName(method) || target[0] != '/' || !visibleASCII(target) || !http1.ValidFieldValue(host) || host == "" {
		return nil, fmt.Errorf("%w: method %q, target %q or host %q", errSubBadRequest, method, target, host)
	}
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	for k, vs := range sr.Header {
		ck := http.CanonicalHeaderKey(k)
		switch ck {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			continue // the client's framing and connection, not the caller's
		}
		if !http1.ValidFieldName(k) {
			return nil, fmt.Errorf("%w: field name %q", errSubBadRequest, k)
		}
		for _, v := range vs {
			if !http1.ValidFieldValue(v) {
				return nil, fmt.Errorf("%w: the value of field %q", errSubBadRequest, k)
			}
			if v == "" && ck == "User-Agent" {
				continue // an empty User-Agent means none
			}
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	switch {
	case len(sr.Body) > 0, method == http.MethodPost, method == http.MethodPut, method == http.MethodPatch:
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(sr.Body)), 10)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...), nil
}

// Helpers of both sub-request clients (this file's and subloop.go's).

// errSubUpgrade: the upstream answered 101; a sub-request wants an answer.
var errSubUpgrade = errors.New("engine: sub-request: the upstream switched protocols")

// badSubHead is the error of an answer head that does not parse.
func badSubHead(err error) error {
	return fmt.Errorf("engine: sub-request: bad response head: %w", err)
}

// interimStatus says an answer is an interim one (103 Early Hints...): the
// final one follows it. 101 is not: it switches protocols.
func interimStatus(status int) bool { return status >= 100 && status < 200 && status != 101 }

// subHeader is the fields of the answer head r parsed in buf.
func subHeader(r *http1.Response, buf []byte) http.Header {
	h := make(http.Header, len(r.Fields))
	for _, f := range r.Fields {
		k := http.CanonicalHeaderKey(string(f.Name.In(buf)))
		h[k] = append(h[k], string(f.Value.In(buf)))
	}
	return h
}

// subMaxBody is the body an answer to sr may have: sr.MaxBody, 1 MiB by
// default.
func subMaxBody(sr *SubRequest) int64 {
	if sr.MaxBody > 0 {
		return sr.MaxBody
	}
	return 1 << 20
}

// subMethod is the http1 method of a sub-request's method name.
func subMethod(name string) http1.Method {
	if name == "" {
		return http1.MethodGET
	}
	for m := http1.MethodGET; m <= http1.MethodPATCH; m++ {
		if m.String() == name {
			return m
		}
	}
	return http1.MethodOther
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
