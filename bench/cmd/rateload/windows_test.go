package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWindowsParity(t *testing.T) {
	// The run's clock starts 300 ms into window 7 (odd) of 1 s windows.
	w := windows{base: 7*int64(time.Second) + 300*int64(ms), width: int64(time.Second)}
	for _, c := range []struct {
		at  time.Duration
		odd bool
	}{{0, true}, {699 * ms, true}, {700 * ms, false}, {1699 * ms, false}, {1700 * ms, true}, {2700 * ms, false}} {
		if got := w.odd(c.at); got != c.odd {
			t.Errorf("at %v: odd %v, want %v", c.at, got, c.odd)
		}
	}
	if (windows{}).on() || !w.on() {
		t.Error("on: a zero width is off, any other on")
	}
}

// A server that is slow only in odd windows: the requests due there make
// the odd figures, the others the even ones, each counted once, and the
// whole run's figures stay as they were.
func TestWindowsSplitTheRequests(t *testing.T) {
	service := make([]time.Duration, 40)
	for i := range service {
		service[i] = 1 * ms // due every 10 ms: windows of 100 ms hold ten each
		if (i/10)%2 == 1 {
			service[i] = 5 * ms
		}
	}
	f := &fakeServer{service: service}
	f.response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	l := &connLoop{conn: f, resp: newResponseReader(f, 256), pace: f, now: f.now, request: []byte("GET / HTTP/1.1\r\n\r\n"),
		interval: 10 * ms, end: 400 * ms, windows: windows{width: int64(100 * ms)}}
	l.run()
	s := summary{duration: 400 * ms, windows: true}
	s.add(l)
	var out bytes.Buffer
	if err := s.write(&out); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	if !strings.HasPrefix(line, "requests=40 ") {
		t.Errorf("output %q: want 40 requests", line)
	}
	for _, want := range []string{" p99_us=5000 ", " even_requests=20 even_p99_us=1000 even_p999_us=1000 odd_requests=20 odd_p99_us=5000 odd_p999_us=5000\n"} {
		if !strings.Contains(line, want) {
			t.Errorf("output %q lacks %q", line, want)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("output %q is not one line", line)
	}
}

// Without windows, the line is as it always was.
func TestNoWindowsNoWindowFields(t *testing.T) {
	f := &fakeServer{service: []time.Duration{1 * ms, 1 * ms}}
	l := runFake(f, 10*ms)
	s := summary{duration: 20 * ms}
	s.add(l)
	var out bytes.Buffer
	s.write(&out)
	if line := out.String(); strings.Contains(line, "even_") || !strings.HasSuffix(line, " late_max_us=0\n") {
		t.Errorf("output %q", line)
	}
}
