package main

import (
	"io"
	"time"
)

// connLoop sends one connection's share of the requests, each when it is
// due, and records what each took. Its loop allocates nothing (the result
// slices are sized up front), so the client never pauses for GC mid-run.
// Not safe for concurrent use: one goroutine runs it.
type connLoop struct {
	conn    io.ReadWriter
	resp    *responseReader
	pace    pacer
	now     func() time.Duration // the run's monotonic clock
	request []byte

	due      time.Duration // of the next request
	interval time.Duration // between this connection's requests
	end      time.Duration // no request is due at or after it

	latency []time.Duration // per request, from due, client lateness removed (timeline)
	late    []time.Duration // per request, the client's own lateness in sending it
	errors  int             // non-200 answers, and the error that ended the loop

	windows windows // with a width, each request's window parity goes to odd
	odd     []bool  // per request, when windows are on: due in an odd window
}

// expectedRequests sizes the result slices so that run does not grow them.
func expectedRequests(first, interval, end time.Duration) int {
	if first >= end {
		return 0
	}
	return int((end-first)/interval) + 1
}

func (l *connLoop) run() {
	var tl timeline
	for l.due < l.end {
		if err := l.pace.waitUntil(l.due); err != nil {
			l.errors++
			return
		}
		send := l.now()
		if _, err := l.conn.Write(l.request); err != nil {
			l.errors++
			return
		}
		status, err := l.resp.readResponse()
		if err != nil {
			l.errors++
			return
		}
		recv := l.now()
		if status != 200 {
			l.errors++
		}
		lat, late := tl.record(l.due, send, recv)
		l.latency = append(l.latency, lat)
		l.late = append(l.late, late)
		if l.windows.on() {
			l.odd = append(l.odd, l.windows.odd(l.due))
		}
		l.due += l.interval
	}
}
