//go:build !race

package http1

import "testing"

// Allocation budgets are promises the engine relies on: a warm Request,
// Response, Edits and dst buffer make the hot path allocation-free.

func TestNoAllocsParseRequest(t *testing.T) {
	if len(browserRequest) < 450 {
		t.Fatalf("browser sample is %d bytes", len(browserRequest))
	}
	var r Request
	n := testing.AllocsPerRun(200, func() {
		r.Reset()
		if _, err := r.Parse(browserRequest); err != nil || len(r.Fields) != 12 {
			t.Fatalf("parse: %v, %d fields", err, len(r.Fields))
		}
	})
	if n != 0 {
		t.Fatalf("Request.Parse: %v allocs, want 0", n)
	}
}

func TestNoAllocsParseRequestResumed(t *testing.T) {
	var r Request
	n := testing.AllocsPerRun(100, func() {
		r.Reset()
		for i := 100; i < len(browserRequest); i += 100 {
			if _, err := r.Parse(browserRequest[:i]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Parse(browserRequest); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("resumed Request.Parse: %v allocs, want 0", n)
	}
}

func TestNoAllocsParseResponse(t *testing.T) {
	var r Response
	n := testing.AllocsPerRun(200, func() {
		r.Reset()
		if _, err := r.Parse(apiResponse, MethodGET); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("Response.Parse: %v allocs, want 0", n)
	}
}

func TestNoAllocsLookup(t *testing.T) {
	var r Request
	r.Reset()
	if _, err := r.Parse(browserRequest); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(200, func() {
		if v, ok := r.Field(browserRequest, "accept-language"); !ok || v.Empty() {
			t.Fatal("lookup")
		}
		if _, ok := r.Field(browserRequest, "X-Missing"); ok {
			t.Fatal("lookup")
		}
	})
	if n != 0 {
		t.Fatalf("Field: %v allocs, want 0", n)
	}
}

func TestNoAllocsSerialize(t *testing.T) {
	var r Request
	r.Reset()
	if _, err := r.Parse(browserRequest); err != nil {
		t.Fatal(err)
	}
	var e Edits
	dst := make([]byte, 0, 2048)
	n := testing.AllocsPerRun(200, func() {
		e.Reset()
		e.SetHost([]byte("10.0.0.7:8080"))
		e.ForwardedFor([]byte("203.0.113.9"))
		e.ForwardedProto([]byte("https"))
		e.SetString("X-Request-Id", "4bf92f3577b34da6")
		e.RemoveString("Referer")
		dst = AppendRequestHead(dst[:0], browserRequest, &r, &e)
	})
	if n != 0 {
		t.Fatalf("AppendRequestHead with edits: %v allocs, want 0", n)
	}
	var resp Response
	resp.Reset()
	if _, err := resp.Parse(apiResponse, MethodGET); err != nil {
		t.Fatal(err)
	}
	n = testing.AllocsPerRun(200, func() {
		e.Reset()
		e.SetString("Server", "sluice")
		dst = AppendResponseHead(dst[:0], apiResponse, &resp, &e)
	})
	if n != 0 {
		t.Fatalf("AppendResponseHead with edits: %v allocs, want 0", n)
	}
}

func TestNoAllocsChunked(t *testing.T) {
	body := AppendLastChunk(AppendChunk(AppendChunk(nil, []byte("hello")), []byte(" world")))
	var d ChunkedDecoder
	n := testing.AllocsPerRun(200, func() {
		d.Reset()
		src := body
		for !d.Done() {
			k, _, err := d.Decode(src)
			if err != nil {
				t.Fatal(err)
			}
			src = src[k:]
		}
	})
	if n != 0 {
		t.Fatalf("ChunkedDecoder: %v allocs, want 0", n)
	}
}
