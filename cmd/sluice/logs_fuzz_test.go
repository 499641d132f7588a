package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// fuzzRecord is a fakeRecord whose request parts are the fuzzer's.
type fuzzRecord struct {
	fakeRecord
	method, host, path, query, ua, referer []byte
}

func (f *fuzzRecord) MethodName() []byte { return f.method }
func (f *fuzzRecord) Host() []byte       { return f.host }
func (f *fuzzRecord) Path() []byte       { return f.path }
func (f *fuzzRecord) Query() []byte      { return f.query }
func (f *fuzzRecord) Target() []byte     { return append(append(slices.Clip(f.path), '?'), f.query...) }
func (f *fuzzRecord) Header(name string) ([]byte, bool) {
	switch name {
	case "user-agent":
		return f.ua, true
	case "referer":
		return f.referer, true
	}
	return nil, false
}

// FuzzAccessLogLine formats the access-log line of a request made of any
// bytes (invalid UTF-8, controls, quotes, backslashes, values past the
// cut) in every form: the default JSON line, the same with
// access_log.fields in another order, and RFC 5424 messages octet-counted
// on a stream socket, the batch cut anywhere. Each line must be one line
// that encoding/json decodes, its values the request's (cut at
// maxLine/4, invalid UTF-8 read byte by byte as Latin-1); each frame
// must be "LEN SP MSG" with LEN MSG's length and the line as MSG.
func FuzzAccessLogLine(f *testing.F) {
	for _, s := range [][6]string{
		{"GET", "api.example.com", "/v1/items", "a=1&b=2", "curl/8.0", "https://example.com/"},
		{"PURGE", "h", "/\"quoted\"\\back", "q=\x00\x01\x1f\x7f", "\xff\xfe", "caf\xc3\xa9 \xe2\x80\xa8"},
		{"", "", "", "", "", ""},
		{"G\nET", "a\r\nb", "/\n{\"injected\":1}", "\u2028\u2029", "\xed\xa0\x80", "\xc3"},
		{"GET", "h", strings.Repeat("\\", maxLine/4+3), strings.Repeat("é", maxLine/8+1), strings.Repeat("\x00", 5000), strings.Repeat("a\"", 3000)},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], "consumer \"c\"", "upstream \"x\" failed\n", uint16(17))
	}
	fields := logFields(config.AccessLogFields)
	reversed := slices.Clone(fields)
	slices.Reverse(reversed)
	f.Fuzz(func(t *testing.T, method, host, path, query, ua, referer, consumer, failure string, cut uint16) {
		r := &fuzzRecord{
			fakeRecord: fakeRecord{status: 404, failure: failure, route: "r\"\\\n", trace: "4bf92f3577b34da6a3ce929d0e0e4736"},
			method:     []byte(method), host: []byte(host), path: []byte(path), query: []byte(query), ua: []byte(ua), referer: []byte(referer),
		}
		if consumer != "" {
			r.consumer = &engine.Consumer{Name: consumer}
		}
		want := map[string]string{
			"method": method, "host": host, "path": path, "query": query, "user_agent": ua, "referer": referer,
			"consumer": consumer, "failure": failure, "route": "r\"\\\n", "request_id": string(fakeID),
		}
		var batch []byte
		for _, line := range [][]byte{
			appendJSONLine(nil, r, &stampCache{}),
			appendJSONLine(nil, r, nil),
			appendJSONFields(nil, r, &stampCache{}, fields),
			appendJSONFields(nil, r, nil, reversed),
		} {
			if bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("not one line: %q", line)
			}
			var got map[string]any
			if err := json.Unmarshal(line, &got); err != nil {
				t.Fatalf("not JSON: %v: %q", err, line)
			}
			if len(got) != len(config.AccessLogFields) {
				t.Fatalf("%d keys, want %d: %q", len(got), len(config.AccessLogFields), line)
			}
			for k, v := range want {
				if got[k] != latin1Cut(v) {
					t.Fatalf("%s: %q, want %q (line %q)", k, got[k], latin1Cut(v), line)
				}
			}
			batch = append(batch, line...)
		}
		// The text line quotes what a client chooses but the method, a
		// token (the parser refuses any other).
		if text := appendTextLine(nil, r); http1.ValidFieldName(method) && bytes.IndexByte(text, '\n') != len(text)-1 {
			t.Fatalf("the text line is not one line: %q", text)
		}

		// RFC 5424 over a stream socket, the batch in two views cut
		// anywhere (a line may go on into the second).
		var out bytes.Buffer
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		k := &rfc5424Sink{stream: true, prefix: []byte("<158>1 "), fields: []byte(" gw sluice 1 access - "), conn: c1, w: bufio.NewWriter(&out)}
		at := int(cut) % (len(batch) + 1)
		if err := k.WriteLines([][]byte{batch[:at], batch[at:]}); err != nil {
			t.Fatal(err)
		}
		frames := out.Bytes()
		for _, line := range bytes.SplitAfter(batch, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			sp := bytes.IndexByte(frames, ' ')
			n, err := strconv.Atoi(string(frames[:max(sp, 0)]))
			if sp <= 0 || err != nil || n > len(frames)-sp-1 {
				t.Fatalf("not an octet-counted frame: %q", frames[:min(len(frames), 40)])
			}
			msg := frames[sp+1 : sp+1+n]
			frames = frames[sp+1+n:]
			if bytes.ContainsAny(msg, "\r\n") || !bytes.HasSuffix(msg, []byte(" gw sluice 1 access - "+string(line[:len(line)-1]))) {
				t.Fatalf("frame %q does not carry the line %q", msg, line)
			}
			stamp := msg[len("<158>1 ") : len("<158>1 ")+len("2006-01-02T15:04:05.000000Z")]
			if _, err := time.Parse(time.RFC3339Nano, string(stamp)); err != nil {
				t.Fatalf("frame %q: timestamp: %v", msg, err)
			}
		}
		if len(frames) != 0 {
			t.Fatalf("bytes after the last frame: %q", frames)
		}
	})
}

// latin1Cut is what a JSON line says of v: cut at maxLine/4 bytes, and
// when that is not UTF-8, each byte as the rune of its value.
func latin1Cut(v string) string {
	if len(v) > maxLine/4 {
		v = v[:maxLine/4]
	}
	if utf8.ValidString(v) {
		return v
	}
	r := make([]rune, len(v))
	for i := 0; i < len(v); i++ {
		r[i] = rune(v[i])
	}
	return string(r)
}
