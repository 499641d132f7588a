package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"testing"
)

// maxSplitLen bounds the inputs checked at every split point (quadratic).
const maxSplitLen = 4096

// FuzzParseRequest checks the request parser against net/http.ReadRequest
// where both accept (same method, target, fields) and checks that feeding a
// prefix, then the whole input, gives the one-shot result at every split.
func FuzzParseRequest(f *testing.F) {
	f.Add(browserRequest)
	f.Add(apiRequest)
	// A stray CRLF after a body, then a head and the next pipelined request.
	f.Add([]byte("\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET /b HTTP/1.1\r\n"))
	for _, tc := range requestCases {
		f.Add([]byte(tc.in))
	}
	for _, s := range realRequests {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		r.Reset()
		n, err := r.Parse(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || n != 0 {
				t.Fatalf("bad error %v (n=%d)", err, n)
			}
		}
		if n > 0 {
			checkRequestInvariants(t, data, &r)
			compareWithNetHTTP(t, data, &r)
		}
		if len(data) <= maxSplitLen {
			for i := 0; i < len(data); i++ {
				var s Request
				s.Reset()
				m, perr := s.Parse(data[:i])
				if perr != nil {
					if !errors.Is(err, perr) {
						t.Fatalf("split %d: prefix error %v, one-shot %v", i, perr, err)
					}
					continue
				}
				if m > 0 {
					if m != n || !sameRequest(&s, &r) {
						t.Fatalf("split %d: prefix parse %d differs from one-shot %d", i, m, n)
					}
					continue
				}
				m, perr = s.Parse(append([]byte(nil), data...)) // a moved, grown buffer
				if !errors.Is(perr, err) || (err == nil && perr != nil) || m != n {
					t.Fatalf("split %d: resumed (%d, %v), one-shot (%d, %v)", i, m, perr, n, err)
				}
				if n > 0 && !sameRequest(&s, &r) {
					t.Fatalf("split %d: resumed parse differs", i)
				}
			}
		}
	})
}

func checkRequestInvariants(t *testing.T, data []byte, r *Request) {
	t.Helper()
	if r.HeadLen > len(data) || !bytes.HasSuffix(data[:r.HeadLen], []byte("\r\n\r\n")) {
		t.Fatalf("HeadLen %d does not end in CRLFCRLF", r.HeadLen)
	}
	for _, s := range []Span{r.MethodName, r.Target, r.Path, r.Query, r.Authority, r.Host, r.UpgradeProto} {
		if s.end() > r.HeadLen {
			t.Fatalf("span %+v beyond head", s)
		}
	}
	for _, f := range r.Fields {
		if f.Value.end() > r.HeadLen || bytes.ContainsAny(f.Value.In(data), "\r\n\x00") {
			t.Fatalf("bad field %q", f.Value.In(data))
		}
	}
	if r.Chunked && r.ContentLength >= 0 {
		t.Fatal("Chunked with Content-Length")
	}
	// The serialized head must parse again, strictly.
	out := AppendRequestHead(nil, data, r, nil)
	var back Request
	back.Reset()
	if _, err := back.Parse(out); err != nil && !errors.Is(err, ErrMissingHost) {
		t.Fatalf("serialized head %q does not parse: %v", out, err)
	}
}

// compareWithNetHTTP compares what both parsers accepted. Where net/http
// refuses what we accept, nothing is asserted: net/http has rules of its own
// (e.g. it refuses some Host values we do not inspect).
func compareWithNetHTTP(t *testing.T, data []byte, r *Request) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data[:r.HeadLen])))
	if err != nil {
		return
	}
	if req.Method != string(r.MethodName.In(data)) {
		t.Fatalf("method %q vs net/http %q", r.MethodName.In(data), req.Method)
	}
	if req.RequestURI != string(r.Target.In(data)) {
		t.Fatalf("target %q vs net/http %q", r.Target.In(data), req.RequestURI)
	}
	if req.ProtoMajor != int(r.Major) || req.ProtoMinor != int(r.Minor) {
		t.Fatalf("version %d.%d vs net/http %d.%d", r.Major, r.Minor, req.ProtoMajor, req.ProtoMinor)
	}
	if r.Form == FormOrigin && r.HasHost && req.Host != string(r.Host.In(data)) {
		t.Fatalf("host %q vs net/http %q", r.Host.In(data), req.Host)
	}
	if !r.Chunked && req.ContentLength != max(r.ContentLength, 0) {
		t.Fatalf("content-length %d vs net/http %d", r.ContentLength, req.ContentLength)
	}
	if r.Chunked != (len(req.TransferEncoding) > 0) {
		t.Fatalf("chunked %v vs net/http %v", r.Chunked, req.TransferEncoding)
	}
	// net/http drops Host and Transfer-Encoding from Header, and adds
	// Cache-Control for Pragma: no-cache.
	skip := func(key string) bool {
		return key == "Host" || key == "Transfer-Encoding" || key == "Cache-Control" || key == "Pragma"
	}
	ours := map[string][]string{}
	for _, f := range r.Fields {
		key := textproto.CanonicalMIMEHeaderKey(string(f.Name.In(data)))
		if !skip(key) {
			ours[key] = append(ours[key], string(f.Value.In(data)))
		}
	}
	for key, vals := range req.Header {
		if skip(key) {
			continue
		}
		if len(ours[key]) != len(vals) {
			t.Fatalf("field %q: %q vs net/http %q", key, ours[key], vals)
		}
		for i := range vals {
			if ours[key][i] != vals[i] {
				t.Fatalf("field %q: %q vs net/http %q", key, ours[key], vals)
			}
		}
		delete(ours, key)
	}
	if len(ours) != 0 {
		t.Fatalf("fields net/http does not have: %q", ours)
	}
}

// FuzzParseResponse checks the response parser's invariants, split
// consistency, and agreement with net/http.ReadResponse on status and fields.
func FuzzParseResponse(f *testing.F) {
	f.Add(apiResponse, uint8(MethodGET))
	f.Add([]byte("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n"), uint8(MethodGET))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), uint8(MethodGET))
	f.Add([]byte("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"), uint8(MethodHEAD))
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"), uint8(MethodGET))
	f.Add([]byte("HTTP/1.1 200 Connection established\r\n\r\n"), uint8(MethodCONNECT))
	f.Fuzz(func(t *testing.T, data []byte, m uint8) {
		method := Method(m % uint8(MethodPATCH+1))
		var r Response
		r.Reset()
		n, err := r.Parse(data, method)
		if err != nil && (StatusOf(err) != 502 || n != 0) {
			t.Fatalf("bad error %v (n=%d)", err, n)
		}
		if n > 0 {
			if !bytes.HasSuffix(data[:n], []byte("\r\n\r\n")) || r.Status < 100 || r.Status > 599 {
				t.Fatalf("bad head: n=%d status=%d", n, r.Status)
			}
			if r.Body == BodyUntilClose && r.KeepAlive {
				t.Fatal("keep-alive with a body delimited by close")
			}
			out := AppendResponseHead(nil, data, &r, nil)
			var back Response
			back.Reset()
			if _, err := back.Parse(out, method); err != nil {
				t.Fatalf("serialized head %q does not parse: %v", out, err)
			}
			if resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data[:n])), nil); err == nil {
				if resp.StatusCode != r.Status {
					t.Fatalf("status %d vs net/http %d", r.Status, resp.StatusCode)
				}
			}
		}
		if len(data) <= maxSplitLen {
			for i := 0; i < len(data); i++ {
				var s Response
				s.Reset()
				k, perr := s.Parse(data[:i], method)
				if perr != nil {
					if !errors.Is(err, perr) {
						t.Fatalf("split %d: prefix error %v, one-shot %v", i, perr, err)
					}
					continue
				}
				if k == 0 {
					k, perr = s.Parse(data, method)
					if !errors.Is(perr, err) || (err == nil && perr != nil) {
						t.Fatalf("split %d: resumed error %v, one-shot %v", i, perr, err)
					}
				}
				if k != n || (n > 0 && (s.Status != r.Status || s.Body != r.Body || len(s.Fields) != len(r.Fields))) {
					t.Fatalf("split %d: resumed parse differs", i)
				}
			}
		}
	})
}

// FuzzChunkedDecoder checks that the decoder gives the same payload and
// verdict whatever the split, that src[:n] re-decodes to the same payload,
// and that it agrees with net/http/httputil's chunked reader where both accept.
func FuzzChunkedDecoder(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), uint8(3))
	f.Add([]byte("a;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"), uint8(1))
	f.Add([]byte("0\r\n\r\n"), uint8(7))
	f.Add([]byte("7fffffffffffffff\r\nx"), uint8(2))
	f.Add([]byte("5 ; a=\"b\"\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		var whole ChunkedDecoder
		payload, consumed, err := decodeAll(&whole, data, len(data)+1)
		var split ChunkedDecoder
		p2, c2, err2 := decodeAll(&split, data, int(step%16)+1)
		if !errors.Is(err2, err) || (err == nil && err2 != nil) || whole.Done() != split.Done() {
			t.Fatalf("split %d: (%v, done %v) vs one-shot (%v, done %v)", step%16+1, err2, split.Done(), err, whole.Done())
		}
		if err == nil && (!bytes.Equal(payload, p2) || consumed != c2) {
			t.Fatalf("split %d: payload or consumption differs", step%16+1)
		}
		if err != nil || !whole.Done() {
			return
		}
		// Relaying src[:n] verbatim is a complete chunked body with the same payload.
		var again ChunkedDecoder
		p3, c3, err3 := decodeAll(&again, data[:consumed], consumed+1)
		if err3 != nil || !again.Done() || c3 != consumed || !bytes.Equal(p3, payload) {
			t.Fatalf("relayed bytes do not re-decode: %v", err3)
		}
		// Re-encoding the payload decodes to the same payload.
		enc := AppendLastChunk(AppendChunk(nil, payload))
		var re ChunkedDecoder
		if p4, _, err4 := decodeAll(&re, enc, len(enc)+1); err4 != nil || !bytes.Equal(p4, payload) {
			t.Fatalf("re-encoded payload differs: %v", err4)
		}
		ref, rerr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data[:consumed])))
		if rerr == nil && !bytes.Equal(ref, payload) {
			t.Fatalf("payload %q vs httputil %q", payload, ref)
		}
	})
}
