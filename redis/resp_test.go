package redis

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
)

func TestReplyLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // -1: ErrBadReply
	}{
		{"+OK\r\n", 5},
		{"+OK\r\n+OK\r\n", 5},
		{"-ERR no\r\n", 9},
		{":42\r\n", 5},
		{":-42\r\n", 6},
		{"$3\r\nabc\r\n", 9},
		{"$0\r\n\r\n", 6},
		{"$-1\r\n", 5},
		{"*-1\r\n", 5},
		{"*0\r\n", 4},
		{"*2\r\n:1\r\n$2\r\nab\r\n", 16},
		{"*2\r\n*1\r\n:1\r\n:2\r\n", 16},
		{"*3\r\n:1\r\n*0\r\n:2\r\n", 16},
		// incomplete
		{"", 0},
		{"+OK", 0},
		{"+OK\r", 0},
		{"$3\r\nab", 0},
		{"$3\r\nabc\r", 0},
		{"*2\r\n:1\r\n", 0},
		{"*2\r\n*2\r\n:1\r\n:2\r\n", 0},
		// not RESP2
		{"x\r\n", -1},
		{"+OK\n", -1},
		{"\n", -1},
		{"\r\n", -1},
		{":x\r\n", -1},
		{":\r\n", -1},
		{"$-2\r\n", -1},
		{"$3\r\nabcd\r\n", -1},
		{"$a\r\n", -1},
		{"*-2\r\n", -1},
		{"*1\r\n!\r\n", -1},
		{"$99999999999999999999\r\n", -1},
		{"$2000000\r\n", -1},
		{"*" + strings.Repeat("1", 18) + "\r\n", -1},
		{strings.Repeat("*1\r\n", 9) + ":1\r\n", -1},
	} {
		n, err := ReplyLen([]byte(tc.in))
		switch {
		case tc.want < 0 && !errors.Is(err, ErrBadReply):
			t.Errorf("ReplyLen(%q) = %d, %v; want ErrBadReply", tc.in, n, err)
		case tc.want >= 0 && (err != nil || n != tc.want):
			t.Errorf("ReplyLen(%q) = %d, %v; want %d", tc.in, n, err, tc.want)
		}
	}
	// Eight arrays deep is allowed.
	deep := strings.Repeat("*1\r\n", 8) + ":1\r\n"
	if n, err := ReplyLen([]byte(deep)); err != nil || n != len(deep) {
		t.Errorf("8 deep: %d, %v", n, err)
	}
}

// A reply that never ends is refused once it passes MaxLoopReply, not
// buffered without bound.
func TestReplyLenBoundsAnEndlessReply(t *testing.T) {
	line := append([]byte("+"), bytes.Repeat([]byte("a"), MaxLoopReply)...)
	if _, err := ReplyLen(line); !errors.Is(err, ErrBadReply) {
		t.Errorf("a simple string of MaxLoopReply bytes without CRLF: %v", err)
	}
	arr := []byte("*1000000\r\n")
	for len(arr) < MaxLoopReply+10 {
		arr = append(arr, ":1\r\n"...)
	}
	if _, err := ReplyLen(arr); !errors.Is(err, ErrBadReply) {
		t.Errorf("an array past MaxLoopReply: %v", err)
	}
}

func TestAppendCommand(t *testing.T) {
	b := AppendArray(nil, 4)
	b = AppendBulkString(b, "SET")
	b = AppendBulk(b, []byte("k"))
	b = AppendBulkInt(b, -12)
	b = AppendBulkString(b, "")
	want := "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n-12\r\n$0\r\n\r\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

func TestAppendInts(t *testing.T) {
	vals, err := AppendInts(nil, []byte("*3\r\n:1\r\n:-2\r\n:30\r\n"))
	if err != nil || len(vals) != 3 || vals[0] != 1 || vals[1] != -2 || vals[2] != 30 {
		t.Errorf("got %v, %v", vals, err)
	}
	for _, bad := range []string{"-ERR boom\r\n", ":1\r\n", "*1\r\n$1\r\na\r\n", "*2\r\n:1\r\n*0\r\n", "*", "*1\r\n", "*x\r\n"} {
		if _, err := AppendInts(nil, []byte(bad)); !errors.Is(err, ErrReply) {
			t.Errorf("AppendInts(%q): %v, want ErrReply", bad, err)
		}
	}
	if _, err := AppendInts(nil, []byte("-ERR boom\r\n")); err == nil || !strings.Contains(err.Error(), "ERR boom") {
		t.Errorf("an error reply's error does not quote it: %v", err)
	}
}

func TestAppendElements(t *testing.T) {
	el, err := AppendElements(nil, []byte("*5\r\n:1\r\n:-7\r\n$3\r\nk:x\r\n$-1\r\n+OK\r\n"))
	if err != nil || len(el) != 5 || string(el[0]) != "1" || string(el[1]) != "-7" || string(el[2]) != "k:x" || el[3] != nil || string(el[4]) != "OK" {
		t.Errorf("got %q, %v", el, err)
	}
	if n, ok := ParseInt(el[1]); !ok || n != -7 {
		t.Errorf("ParseInt(%q) = %d, %v", el[1], n, ok)
	}
	for _, bad := range []string{"-ERR x\r\n", ":1\r\n", "*1\r\n*0\r\n", "*1\r\n-ERR\r\n", "*1\r\n$5\r\nab\r\n", "*2\r\n:1\r\n", "*1\r\n$-2\r\n"} {
		if _, err := AppendElements(nil, []byte(bad)); !errors.Is(err, ErrReply) {
			t.Errorf("AppendElements(%q): %v, want ErrReply", bad, err)
		}
	}
}

func TestIsNoScript(t *testing.T) {
	if !IsNoScript([]byte("-NOSCRIPT No matching script.\r\n")) || IsNoScript([]byte("-ERR x\r\n")) || IsNoScript([]byte("+NOSCRIPT\r\n")) {
		t.Error("IsNoScript")
	}
}

// The loop's greeting authenticates, selects and names the connection;
// a refusal says why without the password.
func TestLoopGreeting(t *testing.T) {
	c, err := New(section(t, "127.0.0.1:1", func(r *config.Redis) { r.Username, r.Password, r.Database = "u", "s3cret", 3 }), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.Loop()
	msg, n := l.Greeting()
	want := "*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$6\r\ns3cret\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$11\r\nsluice-loop\r\n"
	if string(msg) != want || n != 3 {
		t.Errorf("greeting %q (%d replies), want %q (3)", msg, n, want)
	}
	if err := l.CheckGreeting([]byte("+OK\r\n")); err != nil {
		t.Error(err)
	}
	err = l.CheckGreeting([]byte("-WRONGPASS invalid username-password pair s3cret\r\n"))
	if !errors.Is(err, ErrAuth) || !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("refused greeting: %v", err)
	}
	for _, mode := range []func(*config.Redis){
		func(r *config.Redis) { r.TLS = true },
		func(r *config.Redis) { r.Mode = config.RedisCluster },
	} {
		c, err := New(section(t, "127.0.0.1:1", mode), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Loop() != nil {
			t.Error("a loop for TLS or cluster")
		}
		c.Close()
	}
}

func FuzzReplyLen(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n:1\r\n$2\r\nab\r\n", "$-1\r\n", "*1\r\n*1\r\n-ERR\r\n", "$3\r\nab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ReplyLen(b)
		if err != nil {
			return
		}
		if n < 0 || n > len(b) {
			t.Fatalf("ReplyLen = %d for %d bytes", n, len(b))
		}
		if n == 0 {
			return
		}
		// A complete reply is complete whatever follows it, and no
		// shorter prefix of it is.
		if m, err := ReplyLen(append(b[:n:n], "+x\r\n"...)); err != nil || m != n {
			t.Fatalf("with a reply after it: %d, %v; want %d", m, err, n)
		}
		if m, err := ReplyLen(b[:n-1]); err == nil && m != 0 {
			t.Fatalf("a prefix of %d bytes is a reply of %d", n-1, m)
		}
		_, _ = AppendInts(nil, b[:n])
		_, _ = AppendElements(nil, b[:n])
		_, _ = ErrorReply(b[:n])
	})
}

func BenchmarkReplyLen(b *testing.B) {
	reply := []byte("*3\r\n:1\r\n:0\r\n:12345\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if n, err := ReplyLen(reply); err != nil || n != len(reply) {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkAppendInts(b *testing.B) {
	reply := []byte("*3\r\n:1\r\n:0\r\n:12345\r\n")
	var buf [8]int64
	b.ReportAllocs()
	for b.Loop() {
		if _, err := AppendInts(buf[:0], reply); err != nil {
			b.Fatal(err)
		}
	}
}
