package http1

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// decodeAll runs d over in, step bytes at a time (a caller receiving the body
// in pieces), and returns the payload, the bytes consumed and the error.
func decodeAll(d *ChunkedDecoder, in []byte, step int) (payload []byte, consumed int, err error) {
	pending := []byte(nil)
	for off := 0; ; {
		end := min(off+step, len(in))
		pending = append(pending, in[off:end]...)
		off = end
		for {
			n, data, err := d.Decode(pending)
			payload = append(payload, data...)
			consumed += n
			pending = pending[n:]
			if err != nil || d.Done() {
				return payload, consumed, err
			}
			if n == 0 {
				break
			}
		}
		if off == len(in) {
			return payload, consumed, nil
		}
	}
}

func TestChunkedConformance(t *testing.T) {
	cases := []struct {
		name    string
		rfc     string
		in      string
		payload string
		err     error
		done    bool
	}{
		{"two chunks", "RFC 9112 §7.1", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", nil, true},
		{"upper-case hex", "RFC 9112 §7.1", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", nil, true},
		{"leading zeros", "RFC 9112 §7.1", "0005\r\nhello\r\n000\r\n\r\n", "hello", nil, true},
		{"extensions", "RFC 9112 §7.1.1", "5;a=b;c=\"d e\"\r\nhello\r\n0;x\r\n\r\n", "hello", nil, true},
		{"BWS before extension", "RFC 9112 §7.1.1", "5 ;a\r\nhello\r\n0\r\n\r\n", "hello", nil, true},
		{"trailers", "RFC 9112 §7.1.2", "5\r\nhello\r\n0\r\nX-Sum: abc\r\nY:\r\n\r\n", "hello", nil, true},
		{"empty body", "RFC 9112 §7.1", "0\r\n\r\n", "", nil, true},
		{"incomplete", "RFC 9112 §7.1", "5\r\nhel", "hel", nil, false},
		{"stops at end", "RFC 9112 §7.1", "0\r\n\r\nGET / HTTP/1.1", "", nil, true},

		{"empty size", "RFC 9112 §7.1", "\r\nhello\r\n", "", ErrChunkSize, false},
		{"leading space", "RFC 9112 §7.1", " 5\r\nhello\r\n0\r\n\r\n", "", ErrChunkSize, false},
		{"trailing space without extension", "RFC 9112 §7.1", "5 \r\nhello\r\n0\r\n\r\n", "", ErrChunkSize, false},
		{"0x prefix", "RFC 9112 §7.1", "0x5\r\nhello\r\n0\r\n\r\n", "", ErrChunkSize, false},
		{"plus sign", "RFC 9112 §7.1", "+5\r\nhello\r\n0\r\n\r\n", "", ErrChunkSize, false},
		{"trailing junk", "RFC 9112 §7.1", "5g\r\nhello\r\n0\r\n\r\n", "", ErrChunkSize, false},
		{"size overflow", "RFC 9112 §7.1", "8000000000000000\r\n", "", ErrChunkSize, false},
		{"huge size", "RFC 9112 §7.1", "ffffffffffffffffff\r\n", "", ErrChunkSize, false},
		{"max size accepted", "RFC 9112 §7.1", "7fffffffffffffff\r\nab", "ab", nil, false},
		{"too many leading zeros", "RFC 9112 §7.1", strings.Repeat("0", 40) + "1\r\n", "", ErrChunkSize, false},
		{"bare LF after size", "RFC 9112 §7.1", "5\nhello\r\n0\r\n\r\n", "", ErrChunkFraming, false},
		{"bare CR after size", "RFC 9112 §7.1", "5\rhello\r\n0\r\n\r\n", "", ErrChunkFraming, false},
		{"data not followed by CRLF", "RFC 9112 §7.1", "5\r\nhelloX\r\n0\r\n\r\n", "hello", ErrChunkFraming, false},
		{"data followed by bare LF", "RFC 9112 §7.1", "5\r\nhello\n0\r\n\r\n", "hello", ErrChunkFraming, false},
		{"data followed by CR junk", "RFC 9112 §7.1", "5\r\nhello\rX0\r\n\r\n", "hello", ErrChunkFraming, false},
		{"CTL in extension", "RFC 9112 §7.1.1", "5;a\x00\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension BWS around =", "RFC 9112 §7.1.1", "5 ; a = b ;c= \"q\\\"\" ;d\r\nhello\r\n0\r\n\r\n", "hello", nil, true},
		{"extension without name", "RFC 9112 §7.1.1", "5;=b\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension empty value", "RFC 9112 §7.1.1", "5;a=\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension empty", "RFC 9112 §7.1.1", "5;\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension trailing BWS", "RFC 9112 §7.1.1", "5;a \r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension unterminated quote", "RFC 9112 §7.1.1", "5;a=\"b\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension bare LF", "RFC 9112 §7.1.1", "5;a\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension two values", "RFC 9112 §7.1.1", "5;a=b=c\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension non-token name", "RFC 9112 §7.1.1", "5;a(b\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"extension too long", "RFC 9112 §7.1.1", "5;" + strings.Repeat("a", 1100) + "\r\nhello\r\n0\r\n\r\n", "", ErrChunkExtension, false},
		{"trailer obs-fold", "RFC 9112 §7.1.2", "0\r\nX: a\r\n b\r\n\r\n", "", ErrObsFold, false},
		{"trailer space before colon", "RFC 9112 §7.1.2", "0\r\nX : a\r\n\r\n", "", ErrSpaceBeforeColon, false},
		{"trailer bad name", "RFC 9112 §7.1.2", "0\r\nX(: a\r\n\r\n", "", ErrFieldName, false},
		{"trailer NUL", "RFC 9112 §7.1.2", "0\r\nX: a\x00\r\n\r\n", "", ErrFieldValue, false},
		{"trailer bare LF", "RFC 9112 §7.1.2", "0\r\nX: a\n\r\n", "", ErrBareLF, false},
		{"trailer bare CR", "RFC 9112 §7.1.2", "0\r\nX: a\rb\r\n\r\n", "", ErrBareCR, false},
		{"final bare LF", "RFC 9112 §7.1", "0\r\n\n", "", ErrBareLF, false},
		{"final bare CR", "RFC 9112 §7.1", "0\r\n\rX", "", ErrBareCR, false},
		{"trailers too large", "RFC 9112 §7.1.2", "0\r\n" + strings.Repeat("X: aaaaaaaaaa\r\n", 600) + "\r\n", "", ErrTrailersTooLarge, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 2, 3, 7, len(tc.in)} {
				var d ChunkedDecoder
				payload, consumed, err := decodeAll(&d, []byte(tc.in), step)
				if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
					t.Fatalf("%s step %d: err = %v, want %v", tc.rfc, step, err, tc.err)
				}
				if tc.err == nil && string(payload) != tc.payload {
					t.Fatalf("step %d: payload %q, want %q", step, payload, tc.payload)
				}
				if d.Done() != tc.done {
					t.Fatalf("step %d: Done = %v", step, d.Done())
				}
				if tc.done && !strings.HasPrefix(tc.in[consumed:], "GET") && consumed != len(tc.in) {
					t.Fatalf("step %d: consumed %d of %d", step, consumed, len(tc.in))
				}
				if err != nil {
					if _, _, err2 := d.Decode([]byte("0\r\n\r\n")); err2 != err {
						t.Fatalf("error not sticky")
					}
				}
			}
		})
	}
}

func TestChunkedOneRunPerCall(t *testing.T) {
	in := []byte("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\nrest")
	var d ChunkedDecoder
	n, data, err := d.Decode(in)
	if err != nil || string(data) != "abc" || string(in[:n]) != "3\r\nabc\r\n3\r\n" {
		t.Fatalf("first call: n=%d data=%q err=%v", n, data, err)
	}
	n2, data, err := d.Decode(in[n:])
	if err != nil || string(data) != "def" || !d.Done() || string(in[n+n2:]) != "rest" {
		t.Fatalf("second call: n=%d data=%q err=%v done=%v", n2, data, err, d.Done())
	}
	if n3, data, err := d.Decode(in[n+n2:]); n3 != 0 || data != nil || err != nil {
		t.Fatal("Decode after Done consumed bytes")
	}
	d.Reset()
	if d.Done() {
		t.Fatal("Reset kept Done")
	}
}

func TestChunkedRoundTrip(t *testing.T) {
	var enc []byte
	var want []byte
	for i, size := range []int{1, 15, 16, 255, 256, 4096, 70000} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		want = append(want, p...)
		enc = AppendChunk(enc, p)
	}
	enc = AppendChunk(enc, nil) // appends nothing
	enc = AppendLastChunk(enc)
	for _, step := range []int{1, 100, len(enc)} {
		var d ChunkedDecoder
		got, n, err := decodeAll(&d, enc, step)
		if err != nil || !d.Done() || n != len(enc) || !bytes.Equal(got, want) {
			t.Fatalf("step %d: n=%d/%d err=%v done=%v equal=%v", step, n, len(enc), err, d.Done(), bytes.Equal(got, want))
		}
	}
	if got := string(AppendChunkHeader(nil, 0x1a2b)); got != "1a2b\r\n" {
		t.Fatalf("AppendChunkHeader = %q", got)
	}
}

func TestChunkedLimits(t *testing.T) {
	d := ChunkedDecoder{MaxExtension: 4, MaxTrailers: 8}
	if _, _, err := d.Decode([]byte("1;abcd\r\n")); !errors.Is(err, ErrChunkExtension) {
		t.Fatalf("extension limit: %v", err)
	}
	d.Reset()
	if d.MaxExtension != 4 {
		t.Fatal("Reset lost MaxExtension")
	}
	if _, _, err := d.Decode([]byte("1;abc\r\nx\r\n0\r\nX: 12345\r\n")); !errors.Is(err, ErrTrailersTooLarge) {
		t.Fatalf("trailer limit: %v", err)
	}
}
