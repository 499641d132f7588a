package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluice-gw/sluice/config"
)

// escapeJSONReference is the obvious escaper appendJSONString must agree
// with: one byte at a time, invalid UTF-8 as \u00XX byte by byte.
func escapeJSONReference(v []byte) string {
	if len(v) > maxLine/4 {
		v = v[:maxLine/4]
	}
	valid := utf8.Valid(v)
	var sb strings.Builder
	for _, c := range v {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c >= 0x20 && c < 0x7f, c >= 0x80 && valid:
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, `\u00%02x`, c)
		}
	}
	return sb.String()
}

// TestJSONStringMatchesReference checks the eight-bytes-at-a-time escaper
// against the reference on every byte value at every offset of words of
// plain bytes, and on random strings.
func TestJSONStringMatchesReference(t *testing.T) {
	check := func(v []byte) {
		t.Helper()
		got := string(appendJSONString(nil, `"`, v))
		if want := `"` + escapeJSONReference(v); got != want {
			t.Fatalf("%q: got %q, want %q", v, got, want)
		}
	}
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := range 256 {
				v := []byte(strings.Repeat("a", n))
				v[pos] = byte(c)
				check(v)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab/\"\\\x00\x1f\x7f\x80\xc3\xa9\xff ~")
	for range 20000 {
		v := make([]byte, rnd.IntN(40))
		for i := range v {
			v[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		check(v)
	}
	check([]byte(strings.Repeat("x", maxLine))) // cut at maxLine/4
}

// TestRingKeepsWholeLinesInOrder writes lines of many lengths through a
// small ring, drained at odd moments, so that lines wrap around its end,
// take the scratch path near it, and one is longer than the room before
// it: the destination must get every line whole and in order.
func TestRingKeepsWholeLinesInOrder(t *testing.T) {
	sink := &memSink{}
	l := newLogger(sink, 1, 64, true) // a 64 KiB ring
	rnd := rand.New(rand.NewPCG(3, 4))
	var want []string
	recs := map[int]*fakeRecord{}
	for i := range 3000 {
		n := rnd.IntN(3000)
		path := fmt.Sprintf("/%d/%s", i, strings.Repeat("\x01", n%3)+strings.Repeat("p", n))
		if i%300 == 150 { // escaped, longer than maxLine: longer than the room left, at times
			path = strings.Repeat("\x01", maxLine)
		}
		r := &fakeRecord{status: 200, path: path}
		recs[i] = r
		before := l.Dropped()
		l.record(r)
		if l.Dropped() == before {
			want = append(want, string(appendJSONLine(nil, r, nil)))
		}
		if rnd.IntN(20) == 0 {
			l.drain()
		}
	}
	l.drain()
	if len(sink.lines) != len(want) {
		t.Fatalf("%d lines written, %d queued (%d dropped)", len(sink.lines), len(want), l.Dropped())
	}
	for i := range want {
		if sink.lines[i] != want[i] {
			t.Fatalf("line %d:\n got %.200q\nwant %.200q", i, sink.lines[i], want[i])
		}
	}
	if l.Lines() != uint64(len(want)) {
		t.Errorf("Lines() = %d, want %d", l.Lines(), len(want))
	}
	if len(want) < 2000 {
		t.Errorf("only %d of 3000 lines queued: the test drains too rarely", len(want))
	}
}

// TestRingBoundedInLines: queue_lines bounds a ring whose bytes would hold
// more.
func TestRingBoundedInLines(t *testing.T) {
	sink := &memSink{}
	l := newLogger(sink, 1, 16, true)
	for range 40 {
		l.record(&fakeRecord{status: 200, path: "/x"})
	}
	if l.Dropped() != 24 {
		t.Errorf("dropped %d of 40 with queue_lines 16, want 24", l.Dropped())
	}
	l.drain()
	for range 16 {
		l.record(&fakeRecord{status: 200, path: "/x"})
	}
	if l.Dropped() != 24 {
		t.Errorf("dropped %d after a drain, want still 24", l.Dropped())
	}
}

// TestFileSinkWritesBatchesAndReopens writes a batch of many views and
// lines cut between views (more than one 64 KiB write) to a file, moves it away as logrotate does, reopens, and writes again.
func TestFileSinkWritesBatchesAndReopens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	f, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newStreamSink(f, path)
	var bufs [][]byte
	var want strings.Builder
	for i := range 10000 { // about 100 KB
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		bufs = append(bufs, []byte(line[:3]), []byte(line[3:])) // a line cut in two views
	}
	if err := s.WriteLines(bufs); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteLines([][]byte{[]byte("after\n")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".1"); string(b) != want.String() {
		t.Errorf("rotated file: %d bytes, want %d", len(b), want.Len())
	}
	if b, _ := os.ReadFile(path); string(b) != "after\n" {
		t.Errorf("new file: %q", b)
	}
}

// BenchmarkAccessLogToFile is the access log's whole CPU cost per line,
// in one goroutine: the worker's part (record: format into the ring) and
// the writer's (drain: the batch written to a file, the kernel's
// copy into the page cache included), a batch every 1,024 lines (about
// 450 KB, what 20 ms hold at 22,000 requests/s).
func BenchmarkAccessLogToFile(b *testing.B) {
	sink, err := openSink(&config.AccessLog{Format: config.LogFormatJSON, Path: filepath.Join(b.TempDir(), "access.log")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	l := newLogger(sink, 1, 4096, true)
	r := &fakeRecord{status: 200, path: "/v1/items", ua: "Mozilla/5.0 (X11; Linux x86_64) curl/8.0", trace: "4bf92f3577b34da6a3ce929d0e0e4736"}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		l.record(r)
		if n++; n%1024 == 0 {
			l.drain()
		}
	}
	l.drain()
	if l.Dropped() != 0 {
		b.Fatalf("%d lines dropped", l.Dropped())
	}
}

// An idle writer parks without its tick, and a line queued then still
// reaches the destination: the worker wakes it. A lost wake-up would leave
// the line queued for ever (no tick runs while parked), so each round
// waits for its line with no other way for it to be written. Rounds
// alternate a line queued as the writer parks with one queued long after.
func TestWriterParksWhenIdleAndWakesForALine(t *testing.T) {
	sink := &memSink{}
	l := startLogger(sink, 1, 64, true)
	defer l.close()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited 10s for %s", what)
			}
		}
	}
	for round := range 20 {
		if round%2 == 0 {
			waitUntil("the writer to park", l.parked.Load)
		} else {
			// Queued while the writer may be between its last empty
			// drain and its park: the case the parked flag's order is for.
			waitUntil("the writer to be about to park", func() bool { return !l.parked.Load() })
			time.Sleep(time.Duration(parkAfter-1) * writeEvery)
		}
		l.record(&fakeRecord{status: 200, path: fmt.Sprintf("/%d", round)})
		waitUntil(fmt.Sprintf("line %d to be written", round), func() bool { return sink.count() == round+1 })
	}
}
