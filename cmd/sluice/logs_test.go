package main

import (
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// fakeRecord is a logRecord with fixed values; its views are built once,
// so that it allocates nothing itself.
type fakeRecord struct {
	worker   int
	status   int
	failure  string
	path     string
	ua       string
	consumer *engine.Consumer
	trace    string

	once                sync.Once
	pathB, uaB, targetB []byte
}

var (
	fakeID      = []byte("abc-0-1")
	fakeIP      = []byte("127.0.0.1")
	fakeMethod  = []byte("GET")
	fakeHost    = []byte("api.example.com")
	fakeQuery   = []byte("a=1&b=2")
	fakeReferer = []byte("https://example.com/")
)

func (f *fakeRecord) views() *fakeRecord {
	f.once.Do(func() {
		f.pathB, f.uaB, f.targetB = []byte(f.path), []byte(f.ua), []byte(f.path+"?a=1&b=2")
	})
	return f
}

func (f *fakeRecord) WorkerID() int        { return f.worker }
func (f *fakeRecord) Now() int64           { return 1_700_000_000_123_456_789 }
func (f *fakeRecord) StartNanos() int64    { return 1_700_000_000_123_456_789 - 2_345_678 }
func (f *fakeRecord) RequestID() []byte    { return fakeID }
func (f *fakeRecord) ClientIP() []byte     { return fakeIP }
func (f *fakeRecord) MethodName() []byte   { return fakeMethod }
func (f *fakeRecord) Host() []byte         { return fakeHost }
func (f *fakeRecord) Path() []byte         { return f.views().pathB }
func (f *fakeRecord) Query() []byte        { return fakeQuery }
func (f *fakeRecord) Target() []byte       { return f.views().targetB }
func (f *fakeRecord) ProtoMinor() int      { return 1 }
func (f *fakeRecord) ResponseStatus() int  { return f.status }
func (f *fakeRecord) BytesReceived() int64 { return 120 }
func (f *fakeRecord) BodySent() int64      { return 13 }
func (f *fakeRecord) UpstreamNanos() int64 { return 1_500_000 }
func (f *fakeRecord) RouteName() string    { return "api" }
func (f *fakeRecord) UpstreamName() string { return "backend" }
func (f *fakeRecord) UpstreamAddr() string { return "10.0.0.7:8080" }
func (f *fakeRecord) Tries() int           { return 2 }
func (f *fakeRecord) Failure() string      { return f.failure }
func (f *fakeRecord) Consumer() *engine.Consumer {
	return f.consumer
}
func (f *fakeRecord) AppendTraceID(dst []byte) []byte { return append(dst, f.trace...) }
func (f *fakeRecord) Header(name string) ([]byte, bool) {
	switch name {
	case "user-agent":
		return f.views().uaB, true
	case "referer":
		return fakeReferer, true
	}
	return nil, false
}

func TestJSONLineCarriesTheFields(t *testing.T) {
	r := &fakeRecord{status: 502, failure: `upstream "x" failed`, path: "/v1/items", ua: "curl/8.0",
		consumer: &engine.Consumer{Name: "acme"}, trace: "4bf92f3577b34da6a3ce929d0e0e4736"}
	line := appendJSONLine(nil, r)
	if !strings.HasSuffix(string(line), "}\n") || strings.Count(string(line), "\n") != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	want := map[string]any{
		"time": "2023-11-14T22:13:20.123Z", "request_id": "abc-0-1", "client_ip": "127.0.0.1",
		"method": "GET", "host": "api.example.com", "path": "/v1/items", "query": "a=1&b=2",
		"protocol": "HTTP/1.1", "status": 502.0, "bytes_in": 120.0, "bytes_out": 13.0,
		"duration_ms": 2.345, "upstream_ms": 1.5, "route": "api", "upstream": "backend",
		"upstream_addr": "10.0.0.7:8080", "tries": 2.0, "consumer": "acme",
		"failure": `upstream "x" failed`, "user_agent": "curl/8.0", "referer": "https://example.com/",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d fields, want %d: %s", len(got), len(want), line)
	}
}

// TestJSONLineEscapes feeds hostile bytes: the line must stay one valid
// JSON object whatever a client sends.
func TestJSONLineEscapes(t *testing.T) {
	for _, tc := range []struct{ name, path, ua string }{
		{"quotes and backslashes", `/a"b\c`, `x"y\z`},
		{"control bytes", "/a\x00b\x1fc\x7f", "ua\r\nInjected: 1"},
		{"invalid UTF-8", "/\xff\xfe", "\xc3\x28"},
		{"valid UTF-8", "/caf\u00e9", "\u65e5\u672c"},
	} {
		line := appendJSONLine(nil, &fakeRecord{status: 200, path: tc.path, ua: tc.ua})
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Errorf("%s: %v: %q", tc.name, err, line)
			continue
		}
		if strings.Count(string(line), "\n") != 1 {
			t.Errorf("%s: a raw newline in %q", tc.name, line)
		}
		if tc.name != "invalid UTF-8" && (got["path"] != tc.path || got["user_agent"] != tc.ua) {
			t.Errorf("%s: path %q ua %q", tc.name, got["path"], got["user_agent"])
		}
	}
}

func TestTextLineKeepsTheStderrFormat(t *testing.T) {
	line := string(appendTextLine(nil, &fakeRecord{status: 502, failure: "upstream connect refused", path: "/x"}))
	for _, want := range []string{` 127.0.0.1 GET "/x?a=1&b=2" 502 13B 2.345ms route="api" upstream="10.0.0.7:8080" id=abc-0-1`, `failure="upstream connect refused"`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "trace=") {
		t.Errorf("trace= without a trace id: %q", line)
	}
}

// memSink collects lines; block, when not nil, stalls every write until
// closed (a stuck destination).
type memSink struct {
	mu    sync.Mutex
	lines []string
	block chan struct{}
}

func (s *memSink) WriteLine(line []byte) error {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	s.lines = append(s.lines, string(line))
	s.mu.Unlock()
	return nil
}
func (s *memSink) Flush() error  { return nil }
func (s *memSink) Reopen() error { return nil }
func (s *memSink) Close() error  { return nil }

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// TestDroppedWhenWriterStuck: a destination that does not move must not
// stall the worker; lines past the queue are dropped and counted.
func TestDroppedWhenWriterStuck(t *testing.T) {
	sink := &memSink{block: make(chan struct{})}
	const queue, sent = 16, 200
	l := startLogger(sink, 2, queue, true)
	r := &fakeRecord{status: 200, path: "/x", worker: 1}
	start := time.Now()
	for range sent {
		l.record(r)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("recording %d lines took %v: the worker waited", sent, d)
	}
	// The writer holds at most one line in the stuck write; the ring the rest.
	if d := l.Dropped(); d < sent-queue-1 || d > sent-queue {
		t.Errorf("dropped %d, want %d..%d", d, sent-queue-1, sent-queue)
	}
	close(sink.block)
	deadline := time.Now().Add(5 * time.Second)
	for uint64(sink.count())+l.Dropped() != sent {
		if time.Now().After(deadline) {
			t.Fatalf("written %d + dropped %d != %d", sink.count(), l.Dropped(), sent)
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.close()
	if l.Lines() != uint64(sink.count()) {
		t.Errorf("Lines() = %d, wrote %d", l.Lines(), sink.count())
	}
}

func TestSamplingKeepsFailures(t *testing.T) {
	sink := &memSink{}
	l := startLogger(sink, 1, 1<<14, true)
	rate := 0.1
	l.sample = uint64(rate * (1 << 63) * 2)
	ok, failed := &fakeRecord{status: 200, path: "/ok"}, &fakeRecord{status: 503, path: "/bad", failure: "upstream timed out"}
	for range 5000 {
		l.record(ok)
		l.record(failed)
	}
	l.close()
	var oks, fails int
	for _, line := range sink.lines {
		if strings.Contains(line, `"path":"/ok"`) {
			oks++
		} else {
			fails++
		}
	}
	if fails != 5000 || oks < 350 || oks > 650 {
		t.Errorf("logged %d of 5000 successes at 10%% and %d of 5000 failures", oks, fails)
	}
}

func TestSyslogReceivesLines(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := &config.Config{AccessLog: &config.AccessLog{Syslog: &config.Syslog{Address: pc.LocalAddr().String(), Facility: "local3", Tag: "gw"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l, err := newRequestLogger(cfg, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.record(&fakeRecord{status: 200, path: "/via-syslog"})
	buf := make([]byte, 64<<10)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	// <PRI> is facility*8 + severity: local3 (19) and info (6).
	if !strings.HasPrefix(msg, "<158>") || !strings.Contains(msg, " gw[") || !strings.Contains(msg, `"path":"/via-syslog"`) {
		t.Errorf("syslog message %q", msg)
	}
	i := strings.Index(msg, "{")
	var line map[string]any
	if i < 0 || json.Unmarshal([]byte(msg[i:]), &line) != nil {
		t.Errorf("no JSON object in %q", msg)
	}
}
