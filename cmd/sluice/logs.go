package main

import (
	"fmt"
	"io"
	"log"
	"sync/atomic"
	"time"

	"github.com/sluice-gw/sluice/engine"
)

// requestLogger writes one line per request worth logging at the
// configured level: at "debug" every request, at "info" and "warn" the
// failed ones (a failure reason or a 5xx), at "error" none. The line is
// formatted on the worker (it only reads the context) and written by a
// goroutine: a worker never waits for stderr. When the queue is full, lines
// are dropped and counted.
type requestLogger struct {
	all     bool
	lines   chan string
	dropped atomic.Uint64
}

func newRequestLogger(level string, w io.Writer) *requestLogger {
	if level == "error" {
		return nil
	}
	l := &requestLogger{all: level == "debug", lines: make(chan string, 4096)}
	out := log.New(w, "sluice: ", log.LstdFlags)
	go func() {
		for line := range l.lines {
			out.Print(line)
		}
	}()
	return l
}

// log is an engine.Options.AccessLog: it runs on the worker's loop.
func (l *requestLogger) log(x *engine.Ctx) {
	failure := x.Failure()
	status := x.ResponseStatus()
	if !l.all && failure == "" && status < 500 {
		return
	}
	ms := float64(time.Now().UnixNano()-x.StartNanos()) / 1e6
	line := fmt.Sprintf("%s %s %q %d %dB %.2fms route=%q upstream=%q id=%s", x.ClientIP(), x.MethodName(), x.Target(), status, x.BodySent(), ms, x.RouteName(), x.UpstreamAddr(), x.RequestID())
	if failure != "" {
		line += fmt.Sprintf(" failure=%q", failure)
	}
	select {
	case l.lines <- line:
	default:
		l.dropped.Add(1)
	}
}

// droppedCount is the number of log lines dropped because the writer fell
// behind (0 for a nil logger).
func (l *requestLogger) droppedCount() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}
