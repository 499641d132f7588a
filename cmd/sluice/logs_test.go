package main

import (
	"bufio"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strconv"
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
	snap     *engine.Snapshot // nil: no route log modes
	route    string           // "" is "api"
	// noUpstream: the request was not proxied (upstream_ms is null).
	noUpstream bool

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

func (f *fakeRecord) WorkerID() int              { return f.worker }
func (f *fakeRecord) Snapshot() *engine.Snapshot { return f.snap }
func (f *fakeRecord) Now() int64                 { return 1_700_000_000_123_456_789 }
func (f *fakeRecord) StartNanos() int64          { return 1_700_000_000_123_456_789 - 2_345_678 }
func (f *fakeRecord) RequestID() []byte          { return fakeID }
func (f *fakeRecord) ClientIP() []byte           { return fakeIP }
func (f *fakeRecord) MethodName() []byte         { return fakeMethod }
func (f *fakeRecord) Host() []byte               { return fakeHost }
func (f *fakeRecord) Path() []byte               { return f.views().pathB }
func (f *fakeRecord) Query() []byte              { return fakeQuery }
func (f *fakeRecord) Target() []byte             { return f.views().targetB }
func (f *fakeRecord) ProtoMinor() int            { return 1 }
func (f *fakeRecord) ResponseStatus() int        { return f.status }
func (f *fakeRecord) BytesReceived() int64       { return 120 }
func (f *fakeRecord) BodySent() int64            { return 13 }
func (f *fakeRecord) UpstreamNanos() int64 {
	if f.noUpstream {
		return -1
	}
	return 1_500_000
}
func (f *fakeRecord) RouteName() string {
	if f.route == "" {
		return "api"
	}
	return f.route
}
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
	line := appendJSONLine(nil, r, nil)
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

// access_log.fields with every field in the default order writes what the
// default line writes, byte for byte, escapes included; the other branch
// of each field is covered by a second record (no upstream, no consumer).
func TestJSONFieldsAllIsTheDefaultLine(t *testing.T) {
	if int(numLogFields) != len(config.AccessLogFields) {
		t.Fatalf("%d log fields, config has %d", numLogFields, len(config.AccessLogFields))
	}
	all := logFields(config.AccessLogFields)
	var stamp1, stamp2 stampCache
	for _, r := range []*fakeRecord{
		{status: 502, failure: `upstream "x" failed`, path: "/v1/it\x01ems", ua: "curl/8.0\xff",
			consumer: &engine.Consumer{Name: "acme"}, trace: "4bf92f3577b34da6a3ce929d0e0e4736"},
		{status: 404, path: "/", noUpstream: true},
	} {
		want := appendJSONLine(nil, r, &stamp1)
		if got := appendJSONFields(nil, r, &stamp2, all); string(got) != string(want) {
			t.Errorf("all fields:\n got %s\nwant %s", got, want)
		}
	}
}

// A chosen subset comes in the order given, and nothing else.
func TestJSONFieldsSubsetInOrder(t *testing.T) {
	r := &fakeRecord{status: 200, path: "/v1/items", ua: "curl/8.0", trace: "4bf92f3577b34da6a3ce929d0e0e4736"}
	line := appendJSONFields(nil, r, nil, logFields([]string{"status", "path", "upstream_ms", "time", "trace_id"}))
	want := `{"status":200,"path":"/v1/items","upstream_ms":1.500,"time":"2023-11-14T22:13:20.123Z","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}` + "\n"
	if string(line) != want {
		t.Fatalf("got  %s\nwant %s", line, want)
	}
	if !json.Valid(line) {
		t.Fatalf("not JSON: %s", line)
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
		line := appendJSONLine(nil, &fakeRecord{status: 200, path: tc.path, ua: tc.ua}, nil)
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
	mu      sync.Mutex
	lines   []string
	block   chan struct{}
	split   lineSplitter
	batches int
}

func (s *memSink) WriteLines(bufs [][]byte) error {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	return s.split.each(bufs, func(line []byte) error {
		s.lines = append(s.lines, string(line))
		return nil
	})
}
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
	// The stuck write holds its batch in the ring: the ring keeps queue
	// lines, stuck or not.
	if d := l.Dropped(); d != sent-queue {
		t.Errorf("dropped %d, want %d", d, sent-queue)
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

// syslogConfig is a validated config whose access log goes to syslog.
func syslogConfig(t *testing.T, network, addr, format string) *config.Config {
	t.Helper()
	cfg := &config.Config{AccessLog: &config.AccessLog{Syslog: &config.Syslog{Network: network, Address: addr, Facility: "local3", Tag: "gw", Format: format}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkRFC5424 checks one RFC 5424 message of the access log and returns
// its MSG (the JSON line).
func checkRFC5424(t *testing.T, msg string) string {
	t.Helper()
	// <PRI> is facility*8 + severity: local3 (19) and info (6).
	parts := strings.SplitN(msg, " ", 8)
	if len(parts) != 8 {
		t.Fatalf("not an RFC 5424 message: %q", msg)
	}
	if parts[0] != "<158>1" || parts[3] != "gw" || parts[4] != strconv.Itoa(os.Getpid()) || parts[5] != "access" || parts[6] != "-" {
		t.Errorf("header fields %q", parts[:7])
	}
	if _, err := time.Parse(time.RFC3339Nano, parts[1]); err != nil || !strings.HasSuffix(parts[1], "Z") {
		t.Errorf("timestamp %q: %v", parts[1], err)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(parts[7]), &line); err != nil {
		t.Errorf("MSG is not the JSON line: %v: %q", err, parts[7])
	}
	return parts[7]
}

// syslogOverUDP logs one line of path to a UDP syslog receiver in format
// and returns the message it received.
func syslogOverUDP(t *testing.T, format, path string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := newRequestLogger(syslogConfig(t, "udp", pc.LocalAddr().String(), format), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.record(&fakeRecord{status: 200, path: path})
	buf := make([]byte, 64<<10)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestSyslogRFC5424OverUDP(t *testing.T) {
	if line := checkRFC5424(t, syslogOverUDP(t, "", "/via-syslog")); !strings.Contains(line, `"path":"/via-syslog"`) {
		t.Errorf("line %q", line)
	}
}

// TestSyslogRFC5424OverTCP reads octet-counted messages (RFC 6587) from a
// TCP receiver: every message whole, in order, none split or merged.
func TestSyslogRFC5424OverTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	const sent = 50
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		var msgs []string
		for len(msgs) < sent {
			size, err := br.ReadString(' ')
			if err != nil {
				break
			}
			n, err := strconv.Atoi(strings.TrimSuffix(size, " "))
			if err != nil {
				break
			}
			msg := make([]byte, n)
			if _, err := io.ReadFull(br, msg); err != nil {
				break
			}
			msgs = append(msgs, string(msg))
		}
		got <- msgs
	}()
	l, err := newRequestLogger(syslogConfig(t, "tcp", ln.Addr().String(), "rfc5424"), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sent {
		l.record(&fakeRecord{status: 200, path: "/m" + strconv.Itoa(i)})
	}
	l.close()
	msgs := <-got
	if len(msgs) != sent {
		t.Fatalf("%d messages, want %d", len(msgs), sent)
	}
	for i, m := range msgs {
		if line := checkRFC5424(t, m); !strings.Contains(line, `"path":"/m`+strconv.Itoa(i)+`"`) {
			t.Errorf("message %d: %q", i, line)
		}
	}
}

// TestSyslogRFC3164KeepsGoFormat: format rfc3164 keeps Go's log/syslog
// messages ("<PRI>TIMESTAMP HOST TAG[PID]: LINE").
func TestSyslogRFC3164KeepsGoFormat(t *testing.T) {
	msg := syslogOverUDP(t, "rfc3164", "/via-syslog")
	if !strings.HasPrefix(msg, "<158>") || strings.HasPrefix(msg, "<158>1 ") || !strings.Contains(msg, " gw[") || !strings.Contains(msg, `"path":"/via-syslog"`) {
		t.Errorf("syslog message %q", msg)
	}
}

// routeLogRecords are records of routes with a log field: quiet (off),
// sampled (10%), loud (on, overriding the access log's sample) and plain
// (no field).
func routeLogRecords(t *testing.T) *engine.Snapshot {
	t.Helper()
	cfg := &config.Config{Routes: config.Routes(
		&config.Route{Name: "quiet", Log: &config.RouteLog{Access: config.LogAccessOff}},
		&config.Route{Name: "sampled", Log: &config.RouteLog{Sample: 0.1}},
		&config.Route{Name: "loud", Log: &config.RouteLog{Sample: 1}},
		&config.Route{Name: "plain"},
	)}
	return &engine.Snapshot{Config: cfg}
}

// TestRouteLogModes checks a route's log field: off logs nothing (failures
// included), a sample logs that share of successes and every failure, and
// a route without one follows access_log.sample.
func TestRouteLogModes(t *testing.T) {
	snap := routeLogRecords(t)
	sink := &memSink{}
	l := startLogger(sink, 1, 1<<15, true)
	l.sample = sampleThreshold(0.5) // access_log.sample
	const n = 4000
	for _, route := range []string{"quiet", "sampled", "loud", "plain"} {
		ok := &fakeRecord{status: 200, path: "/ok", route: route, snap: snap}
		bad := &fakeRecord{status: 502, path: "/bad", failure: "upstream connect refused", route: route, snap: snap}
		for range n {
			l.record(ok)
			l.record(bad)
		}
	}
	l.close()
	count := map[string]int{}
	for _, line := range sink.lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		count[m["route"].(string)+m["path"].(string)]++
	}
	within := func(key string, lo, hi int) {
		if c := count[key]; c < lo || c > hi {
			t.Errorf("%s: %d lines of %d, want %d..%d", key, c, n, lo, hi)
		}
	}
	within("quiet/ok", 0, 0)
	within("quiet/bad", 0, 0)
	within("sampled/ok", n/10-150, n/10+150)
	within("sampled/bad", n, n)
	within("loud/ok", n, n)
	within("loud/bad", n, n)
	within("plain/ok", n/2-250, n/2+250)
	within("plain/bad", n, n)
}

// TestEventLevels classifies the messages the gateway writes (their
// formats as the code has them) and checks that whatever is not known is
// an error, which every log_level shows.
func TestEventLevels(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want slog.Level
	}{
		{"listening on 127.0.0.1:8080 (1 upstreams, 2 routes; pid 7)", slog.LevelInfo},
		{"admin on http://127.0.0.1:9901 (/metrics, /status, /status/upstreams and the Admin API)", slog.LevelInfo},
		{"config: PUT /routes/api by admin: version 3 -> 4", slog.LevelInfo},
		{"config: writing version 4 to x.yaml: disk full (the change is in force, not on disk)", slog.LevelWarn},
		{"config: the last change is not in x.yaml: disk full", slog.LevelWarn},
		{"terminated: draining (up to 30s, 0 requests in flight)", slog.LevelInfo},
		{"stopped", slog.LevelInfo},
		{"redis: connected to 127.0.0.1:6379 (standalone) after 1 attempt(s)", slog.LevelInfo},
		{"redis: dial tcp: connection refused (attempt 3; retrying in the background)", slog.LevelWarn},
		{"discovery: service/api: Consul answers again", slog.LevelInfo},
		{"discovery: service/api: timeout (failure 2 in a row; the last known targets stay)", slog.LevelWarn},
		{"accept: too many open files; retrying in 5ms", slog.LevelWarn},
		{"SIGHUP: config refused, the running config stays:\nx.yaml:3: listen: bad", slog.LevelWarn},
		{"upgrade: started /bin/sluice as process 9; waiting until it serves", slog.LevelInfo},
		{"upgrade: process 9: exit status 1; this process goes on serving", slog.LevelWarn},
		{"limit-count route:api/limit-count: redis: timeout (3 failures so far; logged at most every 10s)", slog.LevelWarn},
		{"config: x.yaml:3: routes[0].upstream: unknown upstream \"nope\"", slog.LevelError},
		{"cannot listen on :80: bind: permission denied", slog.LevelError},
		{"engine stopped: boom", slog.LevelError},
		{"gnet: fatal: something", slog.LevelError},
		{"something nobody classified", slog.LevelError},
	} {
		if got := eventLevel(c.msg); got != c.want {
			t.Errorf("%q: %v, want %v", c.msg, got, c.want)
		}
	}
}

// TestEventLogJSON runs the event log in JSON at log_level warn: info
// messages are left out, warnings and errors are JSON objects with the
// message's words unchanged.
func TestEventLogJSON(t *testing.T) {
	t.Setenv(eventLogFormatEnv, "")
	var out lockedBuffer
	logger := newTestEventLog(t, &config.Config{LogLevel: "warn", LogFormat: "json"}, &out)
	logger.Printf("listening on %s", "127.0.0.1:1")
	logger.Printf("SIGHUP: config refused, the running config stays:\n%v", "x.yaml:1: bad")
	logger.Printf("cannot listen on %s: %v", ":80", "denied")
	log.Printf("sluice: limit-count x: redis: %v", "timeout") // a policy's line through log's default logger
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		got = append(got, m)
	}
	want := []struct{ level, msg string }{
		{"WARN", "SIGHUP: config refused, the running config stays:\nx.yaml:1: bad"},
		{"ERROR", "cannot listen on :80: denied"},
		{"WARN", "limit-count x: redis: timeout"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i, w := range want {
		if got[i]["level"] != w.level || got[i]["msg"] != w.msg || got[i]["time"] == nil {
			t.Errorf("line %d: %v, want level %s msg %q", i, got[i], w.level, w.msg)
		}
	}
}

// newTestEventLog is newEventLog for a test, which puts slog's and log's
// defaults back when it ends.
func newTestEventLog(t *testing.T, cfg *config.Config, out io.Writer) *log.Logger {
	t.Helper()
	defaultSlog, flags := slog.Default(), log.Flags()
	t.Cleanup(func() {
		slog.SetDefault(defaultSlog) // points log's default logger at its handler
		log.SetOutput(os.Stderr)
		log.SetFlags(flags)
		setEventLog(&config.Config{})
	})
	return newEventLog(cfg, out)
}

// TestEventLogFollowsConfig switches the event log's format and level the
// way a reload does (setEventLog), for the gateway's logger and for a
// logger derived from slog's default before the switch; and checks that
// $SLUICE_LOG_FORMAT, when set, wins over log_format.
func TestEventLogFollowsConfig(t *testing.T) {
	t.Setenv(eventLogFormatEnv, "")
	var out lockedBuffer
	logger := newTestEventLog(t, &config.Config{LogLevel: "info", LogFormat: "text"}, &out)
	derived := slog.Default().With("part", "x")
	lines := func() []string {
		defer out.Reset()
		return strings.Split(strings.TrimSpace(out.String()), "\n")
	}
	isJSON := func(line string) bool { return json.Valid([]byte(line)) && strings.HasPrefix(line, "{") }

	logger.Printf("listening on %s", "127.0.0.1:1")
	derived.Info("hello")
	for _, l := range lines() {
		if isJSON(l) || !strings.Contains(l, "level=INFO") {
			t.Errorf("text wanted: %q", l)
		}
	}

	setEventLog(&config.Config{LogLevel: "warn", LogFormat: "json"})
	logger.Printf("listening on %s", "127.0.0.1:1") // info: below warn now
	logger.Printf("redis: %s", "down")
	derived.Warn("careful")
	got := lines()
	if len(got) != 2 {
		t.Fatalf("after the switch: %d lines, want 2: %q", len(got), got)
	}
	for _, l := range got {
		if !isJSON(l) || !strings.Contains(l, `"level":"WARN"`) {
			t.Errorf("JSON at WARN wanted: %q", l)
		}
	}
	if !strings.Contains(got[1], `"part":"x"`) {
		t.Errorf("the derived logger lost its attribute: %q", got[1])
	}

	t.Setenv(eventLogFormatEnv, "text")
	setEventLog(&config.Config{LogLevel: "info", LogFormat: "json"})
	logger.Printf("listening on %s", "127.0.0.1:1")
	if l := lines(); len(l) != 1 || isJSON(l[0]) {
		t.Errorf("$%s=text must win over log_format json: %q", eventLogFormatEnv, l)
	}
}

// TestStampCacheMatchesFormat checks the cached time against
// time.AppendFormat across second and day boundaries.
func TestStampCacheMatchesFormat(t *testing.T) {
	var c stampCache
	base := time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC).UnixNano()
	for _, d := range []int64{0, 1, 999_999, 1_000_000, 999_999_999, 1_000_000_000, 1_500_000_000, 2_000_000_001, 2_999_000_000, 1_000_000_000} {
		ns := base + d
		want := time.Unix(0, ns).UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z07:00")
		if got := c.appendTime(nil, ns); string(got) != string(want) {
			t.Errorf("%d: %s, want %s", ns, got, want)
		}
	}
}

// BenchmarkLogLine formats one access-log line of a typical request.
func BenchmarkLogLine(b *testing.B) {
	r := &fakeRecord{status: 200, path: "/v1/items", ua: "Mozilla/5.0 (X11; Linux x86_64) curl/8.0", trace: "4bf92f3577b34da6a3ce929d0e0e4736"}
	var buf []byte
	var stamp stampCache
	allFields := logFields(config.AccessLogFields)
	six := logFields([]string{"time", "request_id", "status", "path", "duration_ms", "upstream_addr"})
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"json", func() { buf = appendJSONLine(buf[:0], r, &stamp) }},
		{"json-fields-all", func() { buf = appendJSONFields(buf[:0], r, &stamp, allFields) }},
		{"json-fields-6", func() { buf = appendJSONFields(buf[:0], r, &stamp, six) }},
		{"text", func() { buf = appendTextLine(buf[:0], r) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.fn()
			}
		})
	}
}
