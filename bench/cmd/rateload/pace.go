package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// A pacer holds a connection's goroutine until its next request is due.
//
// time.Sleep wakes late on an idle process: when no goroutine is runnable
// the runtime waits in epoll_wait, whose timeout is whole milliseconds, so a
// sleep of 0.1–1 ms ends up to a millisecond late. A timerfd in the same
// epoll set fires when it is armed for, and the goroutine reading it is
// woken by the poller like a socket read. Spinning was rejected: on one P a
// spinning goroutine keeps the run queue non-empty, and the scheduler then
// polls the network only from sysmon (every 10 ms), delaying every response.
//
// A single periodic timerfd waking each connection's goroutine through a
// channel was tried too (10,000 req/s, 3 s, 08:25 UTC, load average 2.1):
// client lateness p50 62 µs against 50 µs for a timerfd per connection, and
// more CPU (1.8 s against 1.1–1.4 s), the extra goroutine hand-off costing
// more than the two system calls per request it saves. time.Sleep costs the
// least CPU (0.75–0.95 s) but is late by 0.5 ms at the median and sends in
// bursts of a millisecond's requests, which is not the smooth load an open
// loop is for.
type pacer interface {
	// waitUntil returns once now() ≥ due (at once if it already is).
	waitUntil(due time.Duration) error
	close() error
}

// sleepPacer is time.Sleep, the old behaviour, kept to compare against.
type sleepPacer struct{ now func() time.Duration }

func (p sleepPacer) waitUntil(due time.Duration) error {
	for d := due - p.now(); d > 0; d = due - p.now() {
		time.Sleep(d)
	}
	return nil
}

func (sleepPacer) close() error { return nil }

// timerfdPacer is a one-shot timerfd per connection, armed for each wait.
// Not safe for concurrent use.
type timerfdPacer struct {
	now   func() time.Duration
	fd    int      // owned by f; kept because f.Fd() would make it blocking
	f     *os.File // registers fd with the poller, so Read parks the goroutine
	spec  unix.ItimerSpec
	ticks [8]byte // the expiry count a read returns, unused
}

func newTimerfdPacer(now func() time.Duration) (*timerfdPacer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("rateload: timerfd_create: %w", err)
	}
	return &timerfdPacer{now: now, fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}, nil
}

func (p *timerfdPacer) waitUntil(due time.Duration) error {
	for d := due - p.now(); d > 0; d = due - p.now() {
		p.spec.Value = unix.NsecToTimespec(int64(d))
		if err := unix.TimerfdSettime(p.fd, 0, &p.spec, nil); err != nil {
			return err
		}
		if _, err := p.f.Read(p.ticks[:]); err != nil {
			return err
		}
	}
	return nil
}

func (p *timerfdPacer) close() error { return p.f.Close() }
