package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"testing"

	"github.com/valyala/fasthttp"
)

var benchRequests = []struct {
	name string
	head []byte
}{
	{"browser", browserRequest},
	{"api", apiRequest},
}

// BenchmarkParseRequest compares our parser with net/http.ReadRequest and
// fasthttp's RequestHeader.Read on the same heads. Baselines get a reused
// bufio.Reader so they pay for parsing, not for reader allocation.
func BenchmarkParseRequest(b *testing.B) {
	for _, tc := range benchRequests {
		b.Run("req="+tc.name+"/impl=sluice", func(b *testing.B) {
			var r Request
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.head)))
			for b.Loop() {
				r.Reset()
				if _, err := r.Parse(tc.head); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("req="+tc.name+"/impl=fasthttp", func(b *testing.B) {
			var h fasthttp.RequestHeader
			rd := bytes.NewReader(tc.head)
			br := bufio.NewReaderSize(rd, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.head)))
			for b.Loop() {
				rd.Reset(tc.head)
				br.Reset(rd)
				h.Reset()
				if err := h.Read(br); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("req="+tc.name+"/impl=nethttp", func(b *testing.B) {
			rd := bytes.NewReader(tc.head)
			br := bufio.NewReaderSize(rd, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.head)))
			for b.Loop() {
				rd.Reset(tc.head)
				br.Reset(rd)
				if _, err := http.ReadRequest(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseResponse compares the response parser with fasthttp and net/http.
func BenchmarkParseResponse(b *testing.B) {
	b.Run("impl=sluice", func(b *testing.B) {
		var r Response
		b.ReportAllocs()
		for b.Loop() {
			r.Reset()
			if _, err := r.Parse(apiResponse, MethodGET); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=fasthttp", func(b *testing.B) {
		var h fasthttp.ResponseHeader
		rd := bytes.NewReader(apiResponse)
		br := bufio.NewReaderSize(rd, 4096)
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(apiResponse)
			br.Reset(rd)
			h.Reset()
			if err := h.Read(br); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=nethttp", func(b *testing.B) {
		rd := bytes.NewReader(apiResponse)
		br := bufio.NewReaderSize(rd, 4096)
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(apiResponse)
			br.Reset(rd)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}

// BenchmarkLookup looks a field up by name in the parsed browser head.
func BenchmarkLookup(b *testing.B) {
	var r Request
	r.Reset()
	if _, err := r.Parse(browserRequest); err != nil {
		b.Fatal(err)
	}
	b.Run("impl=sluice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := r.Field(browserRequest, "accept-language"); !ok {
				b.Fatal("missing")
			}
		}
	})
	b.Run("impl=nethttp", func(b *testing.B) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(browserRequest)))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if req.Header.Get("accept-language") == "" {
				b.Fatal("missing")
			}
		}
	})
}

// BenchmarkSerializeRequest builds the upstream head with typical proxy
// edits, beside net/http's Request.Write of the same request.
func BenchmarkSerializeRequest(b *testing.B) {
	var r Request
	r.Reset()
	if _, err := r.Parse(browserRequest); err != nil {
		b.Fatal(err)
	}
	b.Run("impl=sluice", func(b *testing.B) {
		var e Edits
		dst := make([]byte, 0, 2048)
		b.ReportAllocs()
		for b.Loop() {
			e.Reset()
			e.SetHost([]byte("10.0.0.7:8080"))
			e.ForwardedFor([]byte("203.0.113.9"))
			e.ForwardedProto([]byte("https"))
			dst = AppendRequestHead(dst[:0], browserRequest, &r, &e)
		}
	})
	b.Run("impl=nethttp", func(b *testing.B) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(browserRequest)))
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			out.Reset()
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Host = "10.0.0.7:8080"
			if err := req.Write(&out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkChunkedDecode decodes a 64 KiB body sent in 4 KiB chunks.
func BenchmarkChunkedDecode(b *testing.B) {
	chunk := bytes.Repeat([]byte("x"), 4096)
	var body []byte
	for range 16 {
		body = AppendChunk(body, chunk)
	}
	body = AppendLastChunk(body)
	b.Run("impl=sluice", func(b *testing.B) {
		var d ChunkedDecoder
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			d.Reset()
			src := body
			for !d.Done() {
				n, _, err := d.Decode(src)
				if err != nil {
					b.Fatal(err)
				}
				src = src[n:]
			}
		}
	})
	b.Run("impl=nethttp", func(b *testing.B) {
		rd := bytes.NewReader(body)
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			rd.Reset(body)
			if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(rd)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseRequestResumed parses the browser head delivered in two
// reads (the first ending mid-line), the cost of resuming.
func BenchmarkParseRequestResumed(b *testing.B) {
	half := len(browserRequest) / 2
	b.Run("impl=sluice", func(b *testing.B) {
		var r Request
		b.ReportAllocs()
		b.SetBytes(int64(len(browserRequest)))
		for b.Loop() {
			r.Reset()
			if n, err := r.Parse(browserRequest[:half]); n != 0 || err != nil {
				b.Fatal(n, err)
			}
			if _, err := r.Parse(browserRequest); err != nil {
				b.Fatal(err)
			}
		}
	})
}
