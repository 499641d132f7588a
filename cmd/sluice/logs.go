package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// requestLogger is the access log. Each worker formats its lines on its
// own loop straight into its own ring of bytes (lineRing); one writer
// goroutine writes what every ring holds, in batches of whole lines
// (streamSink: 64 KiB per write(2)). A worker never waits: when its ring is full
// the line is dropped and counted. The lines are built by hand-written
// appenders rather than fmt or encoding/json because they run on the event
// loop for every request: a line allocates nothing.
//
// Without an access_log section the logger keeps the gateway's historical
// stderr log: text lines of the requests log_level selects (debug: every
// request; info and warn: failed ones, a failure reason or a 5xx; error:
// none). With one, every request is logged, successes sampled by
// access_log.sample. A route's log field turns its requests' lines off or
// samples its successes at its own rate (routeLogModes).
type requestLogger struct {
	json       bool
	onlyFailed bool       // the stderr log at info/warn: failures and 5xx only
	prefix     string     // "sluice: " for the stderr log
	fields     []logField // access_log.fields; nil: every field (appendJSONLine)
	sample     uint64     // successes are logged when a random uint64 < sample; 0: all
	rings      []*lineRing
	wake       chan struct{}
	sink       lineSink
	lines      atomic.Uint64
	// parked is set while the writer waits without its tick (parkAfter):
	// a worker that queues a line then wakes it. Read by the workers for
	// each line, written twice per idle spell: its own cache line.
	_         [64]byte
	parked    atomic.Bool
	_         [64]byte
	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	// The writer's, reused from batch to batch: the views of the rings
	// being written and where each ring's batch ends.
	segs  [][]byte
	marks []ringMark
}

// ringMark is where a batch ends in one ring.
type ringMark struct {
	ring         *lineRing
	head, lines  uint64
	linesWritten uint64 // lines of the batch, for Lines
}

// writeEvery is how often the writer drains the rings: a line reaches its
// destination within it, and a crash loses at most the lines of the last
// writeEvery. Batching is what keeps the log cheap: waking the writer for
// every line cost a goroutine switch and a write(2) per request (about
// 20µs of CPU per request on the 2-vCPU test machine); a batch is every
// ring's bytes, however many lines they hold.
const writeEvery = 20 * time.Millisecond

// parkAfter is how many drains in a row found nothing before the writer
// stops its tick until a worker wakes it: a gateway with no traffic (or
// whose stderr log sees no failure) does not wake up fifty times a second
// for nothing.
const parkAfter = 50

// maxLine is what a line is expected to stay under: fields are cut at
// maxLine/4 bytes before escaping. A worker formats straight into its
// ring when at least maxLine bytes lie free before the ring's end, else
// into a scratch buffer it then copies (lineRing.put).
const maxLine = 16 << 10

// ringBytesPerLine sizes a worker's ring: queue_lines lines of this many
// bytes (a JSON line of a plain request is about 400), rounded up to a
// power of two, at least minRingBytes.
const (
	ringBytesPerLine = 512
	minRingBytes     = 64 << 10
)

// lineRing is one worker's queue: a single-producer single-consumer ring
// of bytes that holds whole lines. The worker appends at head and the
// writer consumes from tail; both count bytes since the start (a position
// is the count & mask) and lines, so that the ring is bounded both by its
// bytes and by queue_lines. Each side's counters sit on their own cache
// line.
//
// Publication order: the worker stores head, then lines; the writer loads
// lines, then head. A writer that sees n lines therefore sees at least
// their bytes, and the bytes between tail and head are always whole lines.
type lineRing struct {
	_       [64]byte
	head    atomic.Uint64 // bytes appended; written by the worker
	lines   atomic.Uint64 // lines appended; written by the worker after head
	dropped atomic.Uint64 // written by the worker
	rnd     uint64        // the worker's sampling state
	// routes caches the route log modes of the two configs the worker
	// saw last (a reload overlaps requests of both); the worker's only.
	routes    [2]routeLogModes
	stamp     stampCache // the JSON lines' time, formatted once a second
	scratch   []byte     // a line formatted where the ring has no room in one piece
	_         [64]byte
	tail      atomic.Uint64 // bytes written out; written by the writer
	tailLines atomic.Uint64 // lines written out (possibly fewer: see drain); written by the writer
	_         [64]byte
	buf       []byte // len(buf) is a power of two
	mask      uint64
	maxLines  uint64
}

func newLineRing(queueLines int, seed uint64) *lineRing {
	size := uint64(minRingBytes)
	for size < uint64(queueLines)*ringBytesPerLine {
		size <<= 1
	}
	return &lineRing{buf: make([]byte, size), mask: size - 1, maxLines: uint64(queueLines), rnd: seed}
}

// put formats r's line (l.format) and queues it, or drops and counts it
// when the ring has no room for it (in lines or in bytes). It returns
// whether the line it queued took the ring to half full or more: then
// the writer is to be woken. A dropped line does not wake it again (the
// writer was woken when the ring passed half; every worker touching the
// wake channel for every line would make an overload worse). The
// worker's only.
func (ring *lineRing) put(l *requestLogger, r logRecord) (halfFull bool) {
	h, n := ring.head.Load(), ring.lines.Load()
	t, tn := ring.tail.Load(), ring.tailLines.Load()
	size := uint64(len(ring.buf))
	if n-tn >= ring.maxLines {
		ring.dropped.Add(1)
		return false // the writer was woken when the ring passed half
	}
	free := size - (h - t)
	pos := h & ring.mask
	var line []byte
	if room := min(size-pos, free); room >= maxLine {
		line = l.format(ring.buf[pos:pos:pos+room], ring, r)
		if cap(line) == int(room) { // formatted in place
			return ring.commit(h, n, uint64(len(line)), t, tn)
		}
		// Longer than room (fields of maxLine/4 with many escapes): the
		// append moved it to the heap. Copy it below like any other.
	} else {
		ring.scratch = l.format(ring.scratch[:0], ring, r)
		line = ring.scratch
	}
	if uint64(len(line)) > free {
		ring.dropped.Add(1)
		return false
	}
	k := copy(ring.buf[pos:], line)
	copy(ring.buf, line[k:]) // the part past the ring's end, if any
	return ring.commit(h, n, uint64(len(line)), t, tn)
}

func (ring *lineRing) commit(h, n, length, t, tn uint64) (halfFull bool) {
	ring.head.Store(h + length)
	ring.lines.Store(n + 1)
	return h+length-t >= uint64(len(ring.buf))/2 || n+1-tn >= ring.maxLines/2
}

// segments appends the bytes between from and to (counts of bytes) as at
// most two views of the ring; they stay valid until tail passes to.
func (ring *lineRing) segments(dst [][]byte, from, to uint64) [][]byte {
	if from == to {
		return dst
	}
	start, end := from&ring.mask, to&ring.mask
	if start < end {
		return append(dst, ring.buf[start:end])
	}
	dst = append(dst, ring.buf[start:])
	if end > 0 {
		dst = append(dst, ring.buf[:end])
	}
	return dst
}

// routeLogMode is a route's log field, compiled.
type routeLogMode struct {
	off     bool
	sampled bool   // sample replaces the access log's
	sample  uint64 // sampleThreshold of the route's rate
}

// routeLogModes are the modes of one config's routes that have a log
// field, by route name; nil modes when none has (the common case, which
// costs one pointer compare per line).
type routeLogModes struct {
	cfg   *config.Config
	modes map[string]routeLogMode
}

// routeMode returns the log mode of r's route, if its route has a log
// field. On the worker: the ring's cache is the worker's own; a config
// not seen yet costs one pass over its routes (pointer checks), once.
func (ring *lineRing) routeMode(r logRecord) (routeLogMode, bool) {
	snap := r.Snapshot()
	if snap == nil || snap.Config == nil {
		return routeLogMode{}, false
	}
	cfg := snap.Config
	c := &ring.routes[0]
	switch {
	case c.cfg == cfg:
	case ring.routes[1].cfg == cfg:
		c = &ring.routes[1]
	default:
		ring.routes[1] = ring.routes[0]
		ring.routes[0] = routeLogModes{cfg: cfg, modes: routeLogModesOf(cfg)}
	}
	if c.modes == nil {
		return routeLogMode{}, false
	}
	m, ok := c.modes[r.RouteName()]
	return m, ok
}

// routeLogModesOf compiles the log fields of cfg's routes, or returns nil
// when none has one.
func routeLogModesOf(cfg *config.Config) map[string]routeLogMode {
	var modes map[string]routeLogMode
	for i, r := range cfg.Routes.All() {
		rl := r.Log
		if rl == nil {
			continue
		}
		if modes == nil {
			modes = make(map[string]routeLogMode)
		}
		name := r.Name
		if name == "" {
			name = "routes[" + strconv.Itoa(i) + "]" // the engine's name for it
		}
		// A RouteLog built in Go is not checked: a sample outside (0, 1]
		// logs everything, as the access log's own would.
		modes[name] = routeLogMode{off: rl.Off(), sampled: rl.Sample != 0, sample: sampleThreshold(rl.Sample)}
	}
	return modes
}

// lineSink is a destination; only the writer goroutine calls it.
type lineSink interface {
	// WriteLines writes a batch: the bytes of bufs in order, which end
	// at the end of a line ('\n'); a line may go on from one buf into
	// the next (where a ring wraps). The bytes are not kept.
	WriteLines(bufs [][]byte) error
	// Reopen reopens a file (logrotate); a no-op elsewhere.
	Reopen() error
	Close() error
}

// newRequestLogger returns the access log for cfg and workers, or nil when
// nothing is to be logged. stderr is the stderr log's destination.
func newRequestLogger(cfg *config.Config, workers int, stderr io.Writer) (*requestLogger, error) {
	al := cfg.AccessLog
	if al == nil {
		if cfg.LogLevel == "error" {
			return nil, nil
		}
		l := startLogger(newStreamSink(stderr, ""), workers, 4096, false)
		l.onlyFailed = cfg.LogLevel != "debug"
		l.prefix = "sluice: "
		return l, nil
	}
	sink, err := openSink(al, stderr)
	if err != nil {
		return nil, err
	}
	l := startLogger(sink, workers, al.QueueLines, al.Format == config.LogFormatJSON)
	l.sample = sampleThreshold(al.Sample)
	l.fields = logFields(al.Fields)
	return l, nil
}

// sampleThreshold is the threshold a random uint64 must stay below for a
// success to be logged at rate f; 0 logs all (f outside (0, 1)).
func sampleThreshold(f float64) uint64 {
	if !(f > 0 && f < 1) {
		return 0
	}
	return uint64(f * (1 << 63) * 2)
}

// startLogger returns a logger with queue lines per worker writing to sink,
// its writer goroutine running.
func startLogger(sink lineSink, workers, queue int, json bool) *requestLogger {
	l := newLogger(sink, workers, queue, json)
	go l.write()
	return l
}

// newLogger is startLogger without the writer goroutine: drain writes.
func newLogger(sink lineSink, workers, queue int, json bool) *requestLogger {
	l := &requestLogger{json: json, sink: sink, wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	l.rings = make([]*lineRing, workers)
	seed := uint64(time.Now().UnixNano())
	for i := range l.rings {
		l.rings[i] = newLineRing(queue, (seed+uint64(i))*0x9e3779b97f4a7c15|1)
	}
	return l
}

func openSink(al *config.AccessLog, stderr io.Writer) (lineSink, error) {
	if s := al.Syslog; s != nil {
		if s.Format == config.SyslogRFC3164 {
			prio := syslog.Priority(config.SyslogFacility(s.Facility)<<3) | syslog.LOG_INFO
			w, err := syslog.Dial(s.Network, s.Address, prio, s.Tag)
			if err != nil {
				return nil, fmt.Errorf("access_log.syslog: %w", err)
			}
			return &syslogSink{w: w}, nil
		}
		sink, err := newRFC5424Sink(s)
		if err != nil {
			return nil, fmt.Errorf("access_log.syslog: %w", err)
		}
		return sink, nil
	}
	switch al.Path {
	case "stderr":
		return newStreamSink(stderr, ""), nil
	case "stdout":
		return newStreamSink(os.Stdout, ""), nil
	}
	f, err := openLogFile(al.Path)
	if err != nil {
		return nil, fmt.Errorf("access_log.path: %w", err)
	}
	return newStreamSink(f, al.Path), nil
}

func openLogFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// log is an engine.Options.AccessLog: it runs on the worker's loop and
// must not block.
func (l *requestLogger) log(x *engine.Ctx) { l.record(x) }

// record queues the line of r on its worker's ring.
func (l *requestLogger) record(r logRecord) {
	status := r.ResponseStatus()
	failed := r.Failure() != ""
	if l.onlyFailed && !failed && status < 500 {
		return
	}
	id := r.WorkerID()
	if id < 0 || id >= len(l.rings) {
		return
	}
	ring := l.rings[id]
	sample := l.sample
	if mode, ok := ring.routeMode(r); ok {
		if mode.off {
			return
		}
		if mode.sampled {
			sample = mode.sample
		}
	}
	if sample != 0 && !failed && status < 400 {
		ring.rnd ^= ring.rnd << 13
		ring.rnd ^= ring.rnd >> 7
		ring.rnd ^= ring.rnd << 17
		if ring.rnd >= sample {
			return
		}
	}
	// Half full: wake the writer now rather than at its next tick; and
	// wake a parked writer, which has no tick. Otherwise the worker does
	// not signal at all, and the writer writes many lines per system
	// call. (The worker stores the ring's head before it loads parked,
	// the writer stores parked before it loads the heads: one of them
	// sees the other's store, so no line waits for a writer that sleeps.)
	if ring.put(l, r) || l.parked.Load() {
		select {
		case l.wake <- struct{}{}:
		default: // the writer is already woken
		}
	}
}

// format appends r's line to dst: JSON, or the stderr log's text.
func (l *requestLogger) format(dst []byte, ring *lineRing, r logRecord) []byte {
	if l.json {
		if l.fields != nil {
			return appendJSONFields(dst, r, &ring.stamp, l.fields)
		}
		return appendJSONLine(dst, r, &ring.stamp)
	}
	return appendTextLine(append(dst, l.prefix...), r)
}

// write is the writer goroutine: it drains every ring every writeEvery,
// or sooner when a ring is half full, and reopens a file on SIGUSR1.
// After parkAfter empty drains it parks: no tick until a worker queues a
// line (or SIGUSR1, or close).
func (l *requestLogger) write() {
	defer close(l.stopped)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	tick := time.NewTicker(writeEvery)
	defer tick.Stop()
	var ticks <-chan time.Time = tick.C
	empty := 0
	for {
		select {
		case <-l.wake:
		case <-ticks:
		case <-usr1:
			if err := l.sink.Reopen(); err != nil {
				fmt.Fprintf(os.Stderr, "sluice: access log: reopen: %v\n", err)
			}
		case <-l.stop:
			l.drain()
			return
		}
		if ticks == nil { // woken from parked
			l.parked.Store(false)
			tick.Reset(writeEvery)
			ticks = tick.C
		}
		if l.drain() {
			empty = 0
		} else if empty++; empty >= parkAfter {
			l.parked.Store(true)
			if l.queued() {
				l.parked.Store(false) // a line came before parked was seen
				continue
			}
			tick.Stop()
			ticks, empty = nil, 0
		}
	}
}

// queued reports whether a ring holds a line not written yet.
func (l *requestLogger) queued() bool {
	for _, ring := range l.rings {
		if ring.head.Load() != ring.tail.Load() {
			return true
		}
	}
	return false
}

// drain writes what every ring holds, in one batch, and hands the bytes
// back to the workers; false when they held nothing. The writer's only.
func (l *requestLogger) drain() bool {
	l.segs, l.marks = l.segs[:0], l.marks[:0]
	for _, ring := range l.rings {
		n := ring.lines.Load() // before head: see lineRing
		h, t := ring.head.Load(), ring.tail.Load()
		if h == t {
			continue
		}
		l.segs = ring.segments(l.segs, t, h)
		l.marks = append(l.marks, ringMark{ring: ring, head: h, lines: n, linesWritten: n - ring.tailLines.Load()})
	}
	if len(l.marks) == 0 {
		return false
	}
	// A destination that fails loses the batch: the writer goes on with
	// the next (a full disk must not stop the workers either).
	_ = l.sink.WriteLines(l.segs)
	for i := range l.marks {
		m := &l.marks[i]
		m.ring.tail.Store(m.head)
		m.ring.tailLines.Store(m.lines)
		l.lines.Add(m.linesWritten)
		m.ring = nil
	}
	clear(l.segs) // no views kept past the batch
	return true
}

// close writes what is queued and closes the destination. Workers must be
// stopped first.
func (l *requestLogger) close() {
	if l == nil {
		return
	}
	l.closeOnce.Do(func() {
		close(l.stop)
		<-l.stopped
		_ = l.sink.Close()
	})
}

// Lines is the number of lines written (admin.LogStats).
func (l *requestLogger) Lines() uint64 {
	if l == nil {
		return 0
	}
	return l.lines.Load()
}

// Dropped is the number of lines dropped because the writer fell behind
// (admin.LogStats).
func (l *requestLogger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	var n uint64
	for _, r := range l.rings {
		n += r.dropped.Load()
	}
	return n
}

// --- Destinations ---

// streamSink writes to stderr, stdout, a file or (in tests) any writer.
// A batch is copied into a 64 KiB buffer, written each time the buffer
// fills, up to its last whole line (every write(2) ends at a line's end),
// and at the batch's end. Writing straight from the rings with one
// writev(2) per batch, without the copy, measured slower on the test
// machine (BenchmarkAccessLogToFile: about 1,000 ns per line against 500
// with 2 MiB rings): the kernel then reads each ring's 2 MiB in turn, where
// it reads the same 16 pages of the buffer every time.
type streamSink struct {
	w    io.Writer
	file *os.File // the log file, reopened and closed; nil for stderr and stdout
	path string
	buf  []byte // capacity writeChunk
}

// writeChunk is the most one write(2) writes.
const writeChunk = 64 << 10

// newStreamSink writes to w; path, when not "", is the name of the log
// file w is, which Reopen opens again and Close closes.
func newStreamSink(w io.Writer, path string) *streamSink {
	s := &streamSink{w: w, path: path, buf: make([]byte, 0, writeChunk)}
	if path != "" {
		s.file, _ = w.(*os.File)
	}
	return s
}

func (s *streamSink) WriteLines(bufs [][]byte) error {
	var err error
	for _, b := range bufs {
		for len(b) > 0 {
			n := copy(s.buf[len(s.buf):cap(s.buf)], b)
			s.buf, b = s.buf[:len(s.buf)+n], b[n:]
			if len(s.buf) == cap(s.buf) {
				err = errors.Join(err, s.write(bytes.LastIndexByte(s.buf, '\n')+1))
			}
		}
	}
	return errors.Join(err, s.write(len(s.buf)))
}

// write writes the buffer's first n bytes (all of it when n is 0: a line
// longer than the buffer goes in pieces) and keeps the rest.
func (s *streamSink) write(n int) error {
	if n == 0 {
		n = len(s.buf)
	}
	if n == 0 {
		return nil
	}
	_, err := s.w.Write(s.buf[:n])
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	return err
}

func (s *streamSink) Reopen() error {
	if s.file == nil {
		return nil
	}
	f, err := openLogFile(s.path)
	if err != nil {
		return err
	}
	old := s.file
	s.w, s.file = f, f
	return old.Close()
}

func (s *streamSink) Close() error {
	if s.file == nil {
		return nil
	}
	return s.file.Close()
}

// lineSplitter cuts a batch into lines, for the destinations that send
// one message per line; a line that goes on into the next view is joined
// in a buffer.
type lineSplitter struct{ joined []byte }

// each calls send with every line of bufs (its newline included) and
// returns the first error.
func (sp *lineSplitter) each(bufs [][]byte, send func(line []byte) error) error {
	var err error
	for _, b := range bufs {
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				sp.joined = append(sp.joined, b...)
				break
			}
			line := b[:i+1]
			if len(sp.joined) > 0 {
				sp.joined = append(sp.joined, line...)
				line = sp.joined
			}
			if e := send(line); e != nil && err == nil {
				err = e
			}
			sp.joined = sp.joined[:0]
			b = b[i+1:]
		}
	}
	return err
}

// syslogSink sends each line as one syslog message in Go's log/syslog
// format (syslog.format: rfc3164).
type syslogSink struct {
	w     *syslog.Writer
	split lineSplitter
}

func (s *syslogSink) WriteLines(bufs [][]byte) error { return s.split.each(bufs, s.writeLine) }

func (s *syslogSink) writeLine(line []byte) error {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	_, err := s.w.Write(line)
	return err
}

func (s *syslogSink) Reopen() error { return nil }
func (s *syslogSink) Close() error  { return s.w.Close() }

// rfc5424Sink sends each line as an RFC 5424 message:
//
//	<PRI>1 2026-01-02T15:04:05.123456Z HOSTNAME TAG PID access - LINE
//
// (severity info, STRUCTURED-DATA nil, the line as MSG). Datagram sockets
// (udp, unixgram) carry one message per datagram; stream sockets (tcp,
// unix) carry each message after its length and a space (RFC 6587 octet
// counting, which RFC 5425 uses too), through a buffer flushed once per
// batch. A write that fails is tried once more on a new connection; then
// the line is lost (the writer goes on with the next).
type rfc5424Sink struct {
	network, addr string
	stream        bool
	prefix        []byte // "<PRI>1 "
	fields        []byte // " HOSTNAME TAG PID access - "
	conn          net.Conn
	w             *bufio.Writer // stream sockets
	msg           []byte        // the message being built, reused
	split         lineSplitter
}

func newRFC5424Sink(s *config.Syslog) (*rfc5424Sink, error) {
	host, err := os.Hostname()
	if err != nil || host == "" || len(host) > 255 || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r > '~' }) {
		host = "-" // RFC 5424 NILVALUE
	}
	prio := config.SyslogFacility(s.Facility)<<3 | 6 // severity 6: informational
	k := &rfc5424Sink{
		network: s.Network,
		addr:    s.Address,
		stream:  s.Network == "tcp" || s.Network == "unix",
		prefix:  []byte("<" + strconv.Itoa(prio) + ">1 "),
		fields:  []byte(" " + host + " " + s.Tag + " " + strconv.Itoa(os.Getpid()) + " access - "),
	}
	if err := k.dial(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *rfc5424Sink) dial() error {
	c, err := net.DialTimeout(k.network, k.addr, 5*time.Second)
	if err != nil {
		return err
	}
	k.conn = c
	if k.stream {
		if k.w == nil {
			k.w = bufio.NewWriterSize(c, 64<<10)
		} else {
			k.w.Reset(c)
		}
	}
	return nil
}

// appendMessage appends line (without its newline) as one message.
func (k *rfc5424Sink) appendMessage(dst, line []byte, now time.Time) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	dst = append(dst, k.prefix...)
	dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, k.fields...)
	return append(dst, line...)
}

func (k *rfc5424Sink) WriteLines(bufs [][]byte) error {
	return errors.Join(k.split.each(bufs, k.writeLine), k.flush())
}

func (k *rfc5424Sink) writeLine(line []byte) error {
	k.msg = k.appendMessage(k.msg[:0], line, time.Now())
	err := k.send()
	if err != nil && k.redial() == nil {
		err = k.send()
	}
	return err
}

func (k *rfc5424Sink) send() error {
	if k.conn == nil {
		return net.ErrClosed
	}
	if !k.stream {
		_, err := k.conn.Write(k.msg)
		return err
	}
	var n [20]byte
	_, _ = k.w.Write(strconv.AppendInt(n[:0], int64(len(k.msg)), 10))
	_ = k.w.WriteByte(' ')
	_, err := k.w.Write(k.msg)
	return err
}

// redial replaces a connection that failed. Bytes buffered for a stream
// socket are lost with it.
func (k *rfc5424Sink) redial() error {
	if k.conn != nil {
		_ = k.conn.Close()
		k.conn = nil
	}
	return k.dial()
}

// flush ends a batch on a stream socket.
func (k *rfc5424Sink) flush() error {
	if !k.stream || k.conn == nil {
		return nil
	}
	err := k.w.Flush()
	if err != nil {
		_ = k.redial() // the next batch goes to a new connection
	}
	return err
}

func (k *rfc5424Sink) Reopen() error { return nil }

func (k *rfc5424Sink) Close() error {
	err := k.flush()
	if k.conn != nil {
		err = errors.Join(err, k.conn.Close())
	}
	return err
}

// --- Lines ---

// logRecord is what a line reads: *engine.Ctx in the gateway, a fake in
// tests. Its []byte results are views valid during the call.
type logRecord interface {
	WorkerID() int
	Snapshot() *engine.Snapshot
	Now() int64
	StartNanos() int64
	RequestID() []byte
	ClientIP() []byte
	MethodName() []byte
	Host() []byte
	Path() []byte
	Query() []byte
	Target() []byte
	ProtoMinor() int
	Header(name string) ([]byte, bool)
	ResponseStatus() int
	BytesReceived() int64
	BodySent() int64
	UpstreamNanos() int64
	RouteName() string
	UpstreamName() string
	UpstreamAddr() string
	Tries() int
	Consumer() *engine.Consumer
	Failure() string
	AppendTraceID(dst []byte) []byte
}

var _ logRecord = (*engine.Ctx)(nil)

// appendJSONLine appends one JSON object and a newline: nginx's combined
// fields plus the gateway's. Absent values are "" (or null for
// upstream_ms), so every line has every key. Each key is appended with
// the punctuation around it as one constant.
func appendJSONLine(b []byte, r logRecord, stamp *stampCache) []byte {
	b = append(b, `{"time":"`...)
	b = stamp.appendTime(b, r.Now())
	b = appendJSONString(b, `","request_id":"`, r.RequestID())
	b = appendJSONString(b, `","client_ip":"`, r.ClientIP())
	b = appendJSONString(b, `","method":"`, r.MethodName())
	b = appendJSONString(b, `","host":"`, r.Host())
	b = appendJSONString(b, `","path":"`, r.Path())
	b = appendJSONString(b, `","query":"`, r.Query())
	b = append(b, `","protocol":"HTTP/1.`...)
	b = appendUint(b, uint64(r.ProtoMinor()))
	b = append(b, `","status":`...)
	b = appendUint(b, uint64(r.ResponseStatus()))
	b = append(b, `,"bytes_in":`...)
	b = appendUint(b, uint64(max(r.BytesReceived(), 0)))
	b = append(b, `,"bytes_out":`...)
	b = appendUint(b, uint64(max(r.BodySent(), 0)))
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, r.Now()-r.StartNanos())
	b = append(b, `,"upstream_ms":`...)
	if up := r.UpstreamNanos(); up >= 0 {
		b = appendMillis(b, up)
	} else {
		b = append(b, "null"...)
	}
	b = appendJSONString(b, `,"route":"`, bytesOf(r.RouteName()))
	b = appendJSONString(b, `","upstream":"`, bytesOf(r.UpstreamName()))
	b = appendJSONString(b, `","upstream_addr":"`, bytesOf(r.UpstreamAddr()))
	b = append(b, `","tries":`...)
	b = appendUint(b, uint64(max(r.Tries(), 0)))
	b = appendJSONString(b, `,"consumer":"`, consumerName(r))
	b = appendJSONString(b, `","failure":"`, bytesOf(r.Failure()))
	ua, _ := r.Header("user-agent")
	b = appendJSONString(b, `","user_agent":"`, ua)
	ref, _ := r.Header("referer")
	b = appendJSONString(b, `","referer":"`, ref)
	b = append(b, `","trace_id":"`...)
	b = r.AppendTraceID(b)
	return append(b, "\"}\n"...)
}

// logField is a key of the JSON line (access_log.fields), in the order of
// config.AccessLogFields.
type logField uint8

const (
	fieldTime logField = iota
	fieldRequestID
	fieldClientIP
	fieldMethod
	fieldHost
	fieldPath
	fieldQuery
	fieldProtocol
	fieldStatus
	fieldBytesIn
	fieldBytesOut
	fieldDurationMS
	fieldUpstreamMS
	fieldRoute
	fieldUpstream
	fieldUpstreamAddr
	fieldTries
	fieldConsumer
	fieldFailure
	fieldUserAgent
	fieldReferer
	fieldTraceID
	numLogFields
)

// logFields are the fields named, in their order (validated names: an
// unknown one is left out); nil for all (appendJSONLine).
func logFields(names []string) []logField {
	if names == nil {
		return nil
	}
	out := make([]logField, 0, len(names))
	for _, n := range names {
		if i := slices.Index(config.AccessLogFields, n); i >= 0 {
			out = append(out, logField(i))
		}
	}
	return out
}

// jsonKeys are each field's key with its punctuation, as appendJSONFields
// writes it after the '{' or ','; a string field's opening quote included.
var jsonKeys = func() [numLogFields]string {
	var k [numLogFields]string
	for i, name := range config.AccessLogFields {
		k[i] = `"` + name + `":`
		switch logField(i) {
		case fieldStatus, fieldBytesIn, fieldBytesOut, fieldDurationMS, fieldUpstreamMS, fieldTries:
		default:
			k[i] += `"`
		}
	}
	return k
}()

// appendJSONFields is appendJSONLine with the fields access_log.fields
// names, in its order. A switch per field costs more than appendJSONLine's
// straight line, which serves the default.
func appendJSONFields(b []byte, r logRecord, stamp *stampCache, fields []logField) []byte {
	for i, f := range fields {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		key := jsonKeys[f]
		if v, ok := logStringField(f, r); ok {
			b = append(appendJSONString(b, key, v), '"')
			continue
		}
		switch f {
		case fieldTime:
			b = stamp.appendTime(append(b, key...), r.Now())
		case fieldProtocol:
			b = appendUint(append(append(b, key...), "HTTP/1."...), uint64(r.ProtoMinor()))
		case fieldStatus:
			b = appendUint(append(b, key...), uint64(r.ResponseStatus()))
		case fieldBytesIn:
			b = appendUint(append(b, key...), uint64(max(r.BytesReceived(), 0)))
		case fieldBytesOut:
			b = appendUint(append(b, key...), uint64(max(r.BodySent(), 0)))
		case fieldDurationMS:
			b = appendMillis(append(b, key...), r.Now()-r.StartNanos())
		case fieldUpstreamMS:
			b = append(b, key...)
			if up := r.UpstreamNanos(); up >= 0 {
				b = appendMillis(b, up)
			} else {
				b = append(b, "null"...)
			}
		case fieldTries:
			b = appendUint(append(b, key...), uint64(max(r.Tries(), 0)))
		case fieldTraceID:
			b = r.AppendTraceID(append(b, key...))
		}
		if jsonKeys[f][len(jsonKeys[f])-1] == '"' {
			b = append(b, '"')
		}
	}
	return append(b, "}\n"...)
}

// logStringField is r's value of a string field, escaped by the caller;
// false for the fields of other kinds.
func logStringField(f logField, r logRecord) ([]byte, bool) {
	switch f {
	case fieldRequestID:
		return r.RequestID(), true
	case fieldClientIP:
		return r.ClientIP(), true
	case fieldMethod:
		return r.MethodName(), true
	case fieldHost:
		return r.Host(), true
	case fieldPath:
		return r.Path(), true
	case fieldQuery:
		return r.Query(), true
	case fieldRoute:
		return bytesOf(r.RouteName()), true
	case fieldUpstream:
		return bytesOf(r.UpstreamName()), true
	case fieldUpstreamAddr:
		return bytesOf(r.UpstreamAddr()), true
	case fieldConsumer:
		return consumerName(r), true
	case fieldFailure:
		return bytesOf(r.Failure()), true
	case fieldUserAgent:
		ua, _ := r.Header("user-agent")
		return ua, true
	case fieldReferer:
		ref, _ := r.Header("referer")
		return ref, true
	}
	return nil, false
}

// consumerName is the name of r's consumer, nil without one.
func consumerName(r logRecord) []byte {
	if c := r.Consumer(); c != nil {
		return bytesOf(c.Name)
	}
	return nil
}

// stampCache keeps the formatted second of the last JSON line's time
// ("2006-01-02T15:04:05."), so that a line formats only its milliseconds:
// time.Time.AppendFormat was a quarter of a line's cost. A nil
// *stampCache formats every time. One worker's (its ring's).
type stampCache struct {
	sec    int64
	prefix []byte
}

// appendTime appends ns (unix nanoseconds) in UTC with milliseconds:
// 2006-01-02T15:04:05.000Z.
func (c *stampCache) appendTime(b []byte, ns int64) []byte {
	if c == nil || ns < 0 {
		return time.Unix(0, ns).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	if sec := ns / 1e9; sec != c.sec || c.prefix == nil {
		c.sec = sec
		c.prefix = time.Unix(sec, 0).UTC().AppendFormat(c.prefix[:0], "2006-01-02T15:04:05.")
	}
	ms := ns / 1e6 % 1000
	b = append(b, c.prefix...)
	return append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendTextLine appends the historical text line:
// 2026/01/02 15:04:05 IP METHOD "TARGET" STATUS NB N.NNms route=".." upstream=".." id=.. [trace=..] [failure=".."]
func appendTextLine(b []byte, r logRecord) []byte {
	b = time.Unix(0, r.Now()).AppendFormat(b, "2006/01/02 15:04:05 ")
	b = append(b, r.ClientIP()...)
	b = append(b, ' ')
	b = append(b, r.MethodName()...)
	b = append(b, ' ')
	b = appendQuoted(b, r.Target())
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.ResponseStatus()), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.BodySent(), 10)
	b = append(b, "B "...)
	b = appendMillis(b, r.Now()-r.StartNanos())
	b = append(b, "ms route="...)
	b = strconv.AppendQuote(b, r.RouteName())
	b = append(b, " upstream="...)
	b = strconv.AppendQuote(b, r.UpstreamAddr())
	b = append(b, " id="...)
	b = append(b, r.RequestID()...)
	if n := len(b); true {
		b = append(b, " trace="...)
		if b2 := r.AppendTraceID(b); len(b2) > len(b) {
			b = b2
		} else {
			b = b[:n]
		}
	}
	if f := r.Failure(); f != "" {
		b = append(b, " failure="...)
		b = strconv.AppendQuote(b, f)
	}
	return append(b, '\n')
}

// appendQuoted is strconv.AppendQuote of a field capped at maxLine/4.
func appendQuoted(b, s []byte) []byte {
	if len(s) > maxLine/4 {
		s = s[:maxLine/4]
	}
	return strconv.AppendQuote(b, unsafeString(s))
}

// appendMillis appends ns as milliseconds with microsecond precision.
func appendMillis(b []byte, ns int64) []byte {
	us := uint64(max(ns, 0)) / 1000
	b = appendUint(b, us/1000)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// appendUint is strconv.AppendUint without its call for the numbers of up
// to three digits a line is mostly made of (status, tries, small sizes).
func appendUint(b []byte, n uint64) []byte {
	switch {
	case n < 10:
		return append(b, byte('0'+n))
	case n < 100:
		return append(b, byte('0'+n/10), byte('0'+n%10))
	case n < 1000:
		return append(b, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	}
	return strconv.AppendUint(b, n, 10)
}

// appendJSONString appends prefix (the key and its punctuation, ending in
// an opening quote) and v escaped as the body of a JSON string, capped at
// maxLine/4 bytes; the caller closes the quote. Invalid UTF-8 has its
// bytes above 0x7f escaped as \u00XX, so the line stays valid JSON. Runs
// of bytes that need no escape are copied whole, found eight bytes at a
// time (plain8), and UTF-8 is checked only from the first byte above 0x7f:
// most values are plain ASCII.
func appendJSONString(b []byte, prefix string, v []byte) []byte {
	b = append(b, prefix...)
	if len(v) > maxLine/4 {
		v = v[:maxLine/4]
	}
	valid, checked := true, false
	run := 0 // start of the bytes not copied yet
	for i := 0; i < len(v); {
		if i+8 <= len(v) {
			if plain8(binary.LittleEndian.Uint64(v[i:])) {
				i += 8
				continue
			}
		} else if len(v) >= 8 && plain8(binary.LittleEndian.Uint64(v[len(v)-8:])) {
			break // the last eight bytes, read again from their end, are plain
		}
		c := v[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		if c >= 0x80 {
			if !checked {
				valid, checked = utf8.Valid(v[i:]), true // v[:i] is ASCII
			}
			if valid {
				i++
				continue
			}
		}
		b = append(b, v[run:i]...)
		if c == '"' || c == '\\' {
			b = append(b, '\\', c)
		} else {
			b = append(b, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
		}
		i++
		run = i
	}
	return append(b, v[run:]...)
}

// plain8 reports whether none of the eight bytes of w needs a JSON escape:
// each is printable ASCII (0x20..0x7e) other than '"' and '\\'. The tests
// are the "has a byte less than / more than / equal to" word tricks of
// Bit Twiddling Hacks; each is exact for "any byte".
func plain8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (w - ones*0x20) &^ w       // a byte < 0x20
	above := (w + ones*(0x7f-0x7e)) | w // a byte > 0x7e
	quote := w ^ (ones * '"')           // a zero byte where w has '"'
	slash := w ^ (ones * '\\')          // a zero byte where w has '\\'
	quote = (quote - ones) &^ quote
	slash = (slash - ones) &^ slash
	return (below|above|quote|slash)&highs == 0
}

const hexDigit = "0123456789abcdef"

// bytesOf views a string's bytes without copying; the view must not be
// modified.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// unsafeString views bytes as a string without copying, for a call that
// does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// --- The event log ---

// eventLogFormatEnv overrides log_format for the whole run when it is set
// ("text" or "json"): a container's environment can pick the format its
// log collector wants without editing a file that other nodes share.
const eventLogFormatEnv = "SLUICE_LOG_FORMAT"

// newEventLog returns the gateway's event log: its own messages (start-up,
// reloads, drains, upgrades, discovery, Redis) through log/slog, as text or
// JSON (log_format, or $SLUICE_LOG_FORMAT), at the level log_level sets.
// Both follow the running config: setEventLog applies a reload's or an
// Admin API change's values at once.
// It is a *log.Logger because every part of the gateway takes a Printf
// (engine, live, discovery and the Redis client's Logf); each message gets
// its level from its words (eventLevel). The standard library's default
// logger, which a few policies write to, goes the same way. The request
// log is not this: it stays in its own format (requestLogger).
func newEventLog(cfg *config.Config, stderr io.Writer) *log.Logger {
	opts := &slog.HandlerOptions{Level: &eventLogLevel}
	h := &eventHandler{text: slog.NewTextHandler(stderr, opts), json: slog.NewJSONHandler(stderr, opts)}
	slog.SetDefault(slog.New(h))
	w := &eventWriter{h: h}
	log.SetOutput(w) // after SetDefault, which points it at h at info
	log.SetFlags(0)
	logger := log.New(w, "", 0)
	setEventLog(cfg)
	if env := os.Getenv(eventLogFormatEnv); env != "" && env != "text" && env != "json" {
		logger.Printf("%s=%q: not text or json; log_format decides", eventLogFormatEnv, env)
	}
	return logger
}

// setEventLog moves the event log to cfg's log_level and log_format
// ($SLUICE_LOG_FORMAT, when it is text or json, wins over log_format).
func setEventLog(cfg *config.Config) {
	eventLogLevel.Set(slogLevel(cfg.LogLevel))
	format := cfg.LogFormat
	if env := os.Getenv(eventLogFormatEnv); env == "text" || env == "json" {
		format = env
	}
	eventLogJSON.Store(format == "json")
}

// eventLogJSON says whether the event log writes JSON (else text).
var eventLogJSON atomic.Bool

// eventHandler is slog's text or JSON handler, whichever eventLogJSON
// says at each record, so a reload can switch the format of every logger
// derived from the default one, not only of new ones.
type eventHandler struct{ text, json slog.Handler }

func (h *eventHandler) current() slog.Handler {
	if eventLogJSON.Load() {
		return h.json
	}
	return h.text
}

func (h *eventHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.current().Enabled(ctx, l)
}

func (h *eventHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.current().Handle(ctx, r)
}

func (h *eventHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &eventHandler{text: h.text.WithAttrs(attrs), json: h.json.WithAttrs(attrs)}
}

func (h *eventHandler) WithGroup(name string) slog.Handler {
	return &eventHandler{text: h.text.WithGroup(name), json: h.json.WithGroup(name)}
}

// eventLogLevel is the event log's level, log_level's of the running
// config.
var eventLogLevel slog.LevelVar

// slogLevel is log_level's slog level; info for an unknown one.
func slogLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// eventWriter turns each line a *log.Logger writes into one slog record.
type eventWriter struct{ h slog.Handler }

func (w *eventWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	msg = strings.TrimPrefix(msg, "sluice: ") // the policies' lines through log's default logger
	level := eventLevel(msg)
	ctx := context.Background()
	if !w.h.Enabled(ctx, level) {
		return len(p), nil
	}
	return len(p), w.h.Handle(ctx, slog.NewRecord(time.Now(), level, msg, 0))
}

// eventLevels classifies the gateway's messages by how they start (and,
// when contains is set, what they contain), first match wins. A message
// none matches is an error: the start-up failures that end the process
// say different things, and must show at every log_level.
var eventLevels = []struct {
	prefix, contains string
	level            slog.Level
}{
	{"listening on ", "", slog.LevelInfo},
	{"admin on ", "", slog.LevelInfo},
	{"stopped", "", slog.LevelInfo},
	{"config: writing version ", "", slog.LevelWarn}, // live: the file write failed
	{"config: the last change is not in ", "", slog.LevelWarn},
	{"config: ", ": version ", slog.LevelInfo}, // live: "config: WHAT by WHO: version A -> B"
	{"", ": draining (up to ", slog.LevelInfo}, // SIGTERM, SIGINT, upgrade done
	{"redis: connected to ", "", slog.LevelInfo},
	{"redis: ", "", slog.LevelWarn},
	{"discovery: ", ": Consul answers again", slog.LevelInfo},
	{"discovery: ", "", slog.LevelWarn},
	{"accept: ", "", slog.LevelWarn},
	{"SIGHUP: ", "", slog.LevelWarn},
	{"SIGUSR2: ", "", slog.LevelWarn},
	{"upgrade: started ", "", slog.LevelInfo},
	{"upgrade: stopping process ", "", slog.LevelWarn},
	{"upgrade: ", "this process goes on serving", slog.LevelWarn},
	{"", ": redis: ", slog.LevelWarn}, // a limit policy's Redis failures
	{eventLogFormatEnv + "=", "", slog.LevelWarn},
}

// eventLevel is the level of a gateway message (eventLevels).
func eventLevel(msg string) slog.Level {
	for _, e := range eventLevels {
		if strings.HasPrefix(msg, e.prefix) && strings.Contains(msg, e.contains) {
			return e.level
		}
	}
	return slog.LevelError
}
