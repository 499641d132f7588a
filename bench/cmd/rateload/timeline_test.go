package main

import (
	"bytes"
	"io"
	"testing"
	"time"
)

const ms = time.Millisecond

// fakeServer is a connection and a clock: a Write advances the clock by the
// next service time and queues the response; the pacer advances it by the
// wait plus the next wake-up lateness.
type fakeServer struct {
	clock    time.Duration
	service  []time.Duration // per request
	wakeLate []time.Duration // per request that had to wait; missing: 0
	sleeps   int
	out      bytes.Buffer
	response string
}

func (f *fakeServer) now() time.Duration { return f.clock }

func (f *fakeServer) Write(p []byte) (int, error) {
	f.clock += f.service[0]
	f.service = f.service[1:]
	f.out.WriteString(f.response)
	return len(p), nil
}

func (f *fakeServer) Read(p []byte) (int, error) { return f.out.Read(p) }

func (f *fakeServer) waitUntil(due time.Duration) error {
	if f.clock >= due {
		return nil
	}
	f.clock = due
	if f.sleeps < len(f.wakeLate) {
		f.clock += f.wakeLate[f.sleeps]
	}
	f.sleeps++
	return nil
}

func (f *fakeServer) close() error { return nil }

// runFake runs a connLoop of len(service) requests every interval, the
// first due at 0, against f.
func runFake(f *fakeServer, interval time.Duration) *connLoop {
	f.response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	n := len(f.service)
	l := &connLoop{conn: f, resp: newResponseReader(f, 256), pace: f, now: f.now, request: []byte("GET / HTTP/1.1\r\n\r\n"),
		interval: interval, end: time.Duration(n) * interval}
	l.run()
	return l
}

func checkDurations(t *testing.T, what string, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values %v, want %v", what, len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
}

// A server that takes 35 ms on one request holds back the three requests
// due behind it on the connection: each counts from when it was due.
func TestServerStallCountsFromDue(t *testing.T) {
	f := &fakeServer{service: []time.Duration{1 * ms, 35 * ms, 1 * ms, 1 * ms, 1 * ms, 1 * ms}}
	l := runFake(f, 10*ms)
	// due 0, 10, 20, 30, 40, 50; the stalled answer is back at 45.
	checkDurations(t, "latency", l.latency, []time.Duration{1 * ms, 35 * ms, 26 * ms, 17 * ms, 8 * ms, 1 * ms})
	checkDurations(t, "late", l.late, []time.Duration{0, 0, 0, 0, 0, 0})
	if l.errors != 0 {
		t.Fatalf("errors %d", l.errors)
	}
}

// A client that wakes 7 ms late sends late; that is not the server's time.
// The next request then finds the connection busy, but only because of the
// client's lateness: it is not charged to the server either (the old
// rateload reported 8 ms and 4 ms here).
func TestLateWakeupNotCounted(t *testing.T) {
	f := &fakeServer{service: []time.Duration{1 * ms, 1 * ms, 1 * ms, 1 * ms}, wakeLate: []time.Duration{7 * ms}}
	l := runFake(f, 5*ms)
	// Request 0 due at 0 needs no sleep; request 1 due at 5 is sent at 12,
	// answered at 13; request 2 due at 10 is sent at 13.
	checkDurations(t, "latency", l.latency, []time.Duration{1 * ms, 1 * ms, 1 * ms, 1 * ms})
	checkDurations(t, "late", l.late, []time.Duration{0, 7 * ms, 3 * ms, 0})
}

// A stall and a late wake-up together: the stall still counts from due,
// only the wake-up's share is removed.
func TestStallAfterLateWakeup(t *testing.T) {
	f := &fakeServer{service: []time.Duration{1 * ms, 20 * ms, 1 * ms}, wakeLate: []time.Duration{2 * ms}}
	l := runFake(f, 10*ms)
	// Request 1 due at 10 sent at 12 (2 ms late), answered at 32; request
	// 2 due at 20: a punctual client would have had the answer at 30.
	checkDurations(t, "latency", l.latency, []time.Duration{1 * ms, 20 * ms, 11 * ms})
	checkDurations(t, "late", l.late, []time.Duration{0, 2 * ms, 2 * ms})
}

func TestTimelinePunctualIdle(t *testing.T) {
	var tl timeline
	// A send at its due time on an idle connection: all of it is latency.
	if lat, late := tl.record(10*ms, 10*ms, 11*ms); lat != 1*ms || late != 0 {
		t.Fatalf("got %v %v", lat, late)
	}
}

func TestNonOKCountsAsError(t *testing.T) {
	f := &fakeServer{service: []time.Duration{1 * ms, 1 * ms}}
	f.response = "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
	l := &connLoop{conn: f, resp: newResponseReader(f, 256), pace: f, now: f.now, request: []byte("GET / HTTP/1.1\r\n\r\n"),
		interval: ms, end: 2 * ms}
	l.run()
	if l.errors != 2 || len(l.latency) != 2 {
		t.Fatalf("errors %d, latencies %d", l.errors, len(l.latency))
	}
}

var _ io.ReadWriter = (*fakeServer)(nil)
