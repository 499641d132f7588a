package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/redis/redistest"
)

func TestBasicOps(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), nil))
	ctx := context.Background()

	if err := c.SetPX(ctx, "k", []byte("v\x00bin"), time.Minute); err != nil {
		t.Fatalf("SetPX: %v", err)
	}
	val, ok, err := c.Get(ctx, "k")
	if err != nil || !ok || string(val) != "v\x00bin" {
		t.Fatalf("Get = %q, %v, %v", val, ok, err)
	}
	if ttl, _ := srv.Do("PTTL", "k"); ttl == "-1" || ttl == "-2" {
		t.Errorf("PTTL after SetPX = %s", ttl)
	}
	if set, err := c.SetNXPX(ctx, "nx", []byte("a"), time.Minute); err != nil || !set {
		t.Fatalf("SetNXPX of a new key = %v, %v", set, err)
	}
	if set, err := c.SetNXPX(ctx, "nx", []byte("b"), time.Minute); err != nil || set {
		t.Fatalf("SetNXPX of an existing key = %v, %v", set, err)
	}
	if v, _ := srv.Do("GET", "nx"); v != "a" {
		t.Fatalf("SetNXPX overwrote the key: %q", v)
	}
	val, ok, err = c.Get(ctx, "missing")
	if err != nil || ok || val != nil {
		t.Fatalf("Get(missing) = %q, %v, %v", val, ok, err)
	}

	b, err := c.B()
	if err != nil {
		t.Fatalf("B: %v", err)
	}
	if _, err := c.Do(ctx, b.Hset().Key("h").FieldValue().FieldValue("f", "1").Build()); err != nil {
		t.Fatalf("HSET: %v", err)
	}
	msg, err := c.Do(ctx, b.Hget().Key("h").Field("f").Build())
	if s, _ := msg.ToString(); err != nil || s != "1" {
		t.Fatalf("HGET = %q, %v", s, err)
	}
	msg, err = c.Do(ctx, b.Hget().Key("h").Field("nope").Build())
	if err != nil || !msg.IsNil() {
		t.Fatalf("HGET of a missing field: nil=%v, err=%v", msg.IsNil(), err)
	}

	script := rueidis.NewLuaScript("return redis.call('STRLEN', KEYS[1]) + tonumber(ARGV[1])")
	msg, err = c.Eval(ctx, script, []string{"k"}, []string{"10"})
	if n, _ := msg.AsInt64(); err != nil || n != 15 {
		t.Fatalf("Eval = %d, %v", n, err)
	}
}

// TestErrorReplies: Redis error replies wrap ErrReply and name the command.
func TestErrorReplies(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), nil))
	ctx := context.Background()
	if err := c.SetPX(ctx, "str", []byte("abc"), time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := c.IncrExpire(ctx, "str", 1, time.Minute)
	wantKind(t, err, ErrReply)
	if e := err.(*Error); e.Cmd != "EVALSHA" || !strings.Contains(e.Msg, "not an integer") {
		t.Errorf("IncrExpire on a string: Cmd %q, Msg %q", e.Cmd, e.Msg)
	}
	b, _ := c.B()
	_, err = c.Do(ctx, b.Lpush().Key("str").Element("x").Build())
	wantKind(t, err, ErrReply)
	if e := err.(*Error); e.Cmd != "LPUSH" || !strings.HasPrefix(e.Msg, "WRONGTYPE") {
		t.Errorf("LPUSH on a string: %v", err)
	}
	if want := "redis: error reply: LPUSH: WRONGTYPE"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error text %q does not start with %q", err, want)
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrAuth) {
		t.Errorf("a WRONGTYPE reply is also another kind: %v", err)
	}
}

// TestIncrExpireExact: 16 goroutines incrementing one key see every value
// from 1 to the total exactly once, and the key gets its TTL once.
func TestIncrExpireExact(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), nil))
	const goroutines, perGoroutine = 16, 200
	seen := make([]int32, goroutines*perGoroutine+1)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perGoroutine {
				n, err := c.IncrExpire(context.Background(), "counter", 1, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if n >= 1 && int(n) < len(seen) {
					seen[n]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("IncrExpire: %v", err)
	}
	for n := 1; n < len(seen); n++ {
		if seen[n] != 1 {
			t.Fatalf("value %d returned %d times", n, seen[n])
		}
	}
	if got, _ := srv.Do("GET", "counter"); got != strconv.Itoa(goroutines*perGoroutine) {
		t.Errorf("counter = %s", got)
	}
	pttl, _ := srv.Do("PTTL", "counter")
	if ms, _ := strconv.Atoi(pttl); ms <= 0 || ms > 60000 {
		t.Errorf("PTTL = %s, want in (0, 60000]", pttl)
	}
}

// TestIncrExpireTTL: the TTL is set on creation and on a key that has
// none, and not pushed back by later increments.
func TestIncrExpireTTL(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), nil))
	ctx := context.Background()
	if n, err := c.IncrExpire(ctx, "w", 5, time.Hour); err != nil || n != 5 {
		t.Fatalf("IncrExpire = %d, %v", n, err)
	}
	if n, err := c.IncrExpire(ctx, "w", -2, 24*time.Hour); err != nil || n != 3 {
		t.Fatalf("IncrExpire = %d, %v", n, err)
	}
	pttl, _ := srv.Do("PTTL", "w")
	if ms, _ := strconv.Atoi(pttl); ms <= 0 || ms > 3600000 {
		t.Errorf("PTTL = %s: the second call changed the TTL or none was set", pttl)
	}
	if _, err := srv.Do("SET", "noTTL", "7"); err != nil {
		t.Fatal(err)
	}
	if n, err := c.IncrExpire(ctx, "noTTL", 1, 0); err != nil || n != 8 {
		t.Fatalf("IncrExpire = %d, %v", n, err)
	}
	if pttl, _ := srv.Do("PTTL", "noTTL"); pttl == "-1" {
		t.Errorf("a counter without TTL kept none")
	}
}

func TestPasswordAuth(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", testPassword)
	c := connectedClient(t, section(t, srv.Addr(), func(r *config.Redis) { r.Password = testPassword }))
	if err := c.SetPX(context.Background(), "a", []byte("1"), time.Minute); err != nil {
		t.Fatalf("SetPX with the right password: %v", err)
	}

	t.Run("wrong password", func(t *testing.T) {
		wrong := testPassword + "-wrong"
		bad, logs := newClient(t, section(t, srv.Addr(), func(r *config.Redis) { r.Password = wrong }))
		var err error
		eventually(t, "a connect attempt", func() error {
			if bad.Stats().ConnectFailures == 0 {
				return errors.New("no failed attempt yet")
			}
			_, _, err = bad.Get(context.Background(), "a")
			return nil
		})
		wantKind(t, err, ErrUnavailable)
		if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("want ErrAuth saying WRONGPASS, got %v", err)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(logs.String(), wrong) || strings.Contains(logs.String(), testPassword) {
			t.Errorf("the password is in the error or the log:\n%v\n%s", err, logs)
		}
		if bad.Connected() {
			t.Errorf("connected with a wrong password")
		}
	})

	t.Run("no password", func(t *testing.T) {
		none, _ := newClient(t, section(t, srv.Addr(), nil))
		eventually(t, "a connect attempt", func() error {
			if none.Stats().ConnectFailures == 0 {
				return errors.New("no failed attempt yet")
			}
			return nil
		})
		_, _, err := none.Get(context.Background(), "a")
		wantKind(t, err, ErrUnavailable)
		if !errors.Is(err, ErrAuth) {
			t.Errorf("want ErrAuth, got %v", err)
		}
	})
}

// TestACLUser: a username and password (Redis 6 ACL), and a wrong one.
func TestACLUser(t *testing.T) {
	srv := redistest.Start(t)
	if _, err := srv.Do("ACL", "SETUSER", "gw", "on", ">"+testPassword, "~*", "+@all"); err != nil {
		t.Fatal(err)
	}
	c := connectedClient(t, section(t, srv.Addr(), func(r *config.Redis) { r.Username, r.Password = "gw", testPassword }))
	b, _ := c.B()
	msg, err := c.Do(context.Background(), b.AclWhoami().Build())
	if who, _ := msg.ToString(); err != nil || who != "gw" {
		t.Fatalf("ACL WHOAMI = %q, %v", who, err)
	}
	bad, _ := newClient(t, section(t, srv.Addr(), func(r *config.Redis) { r.Username, r.Password = "gw", "nope-"+testPassword }))
	eventually(t, "a refused connect", func() error {
		_, _, err := bad.Get(context.Background(), "a")
		if !errors.Is(err, ErrAuth) {
			return err
		}
		wantKind(t, err, ErrUnavailable)
		return nil
	})
}

func TestDatabase(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), func(r *config.Redis) { r.Database = 3 }))
	if err := c.SetPX(context.Background(), "in3", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	info, err := srv.Do("INFO", "keyspace")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "db3:keys=1") || strings.Contains(info, "db0:") {
		t.Errorf("INFO keyspace:\n%s", info)
	}
}

// TestDownAtStart: a client made while nothing listens fails every call at
// once with ErrUnavailable, and connects by itself when Redis comes up.
func TestDownAtStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop() // its port is known and nothing listens on it
	c, logs := newClient(t, section(t, srv.Addr(), nil))
	ctx := context.Background()
	for range 3 {
		err, took := timed(func() error { _, err := c.IncrExpire(ctx, "n", 1, time.Minute); return err })
		wantKind(t, err, ErrUnavailable)
		if took > failFastMax {
			t.Fatalf("a call while Redis is down took %s", took)
		}
	}
	_, _, err := c.Get(ctx, "n")
	wantKind(t, err, ErrUnavailable)
	if _, err := c.B(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("B() while down: %v", err)
	}
	srv.Restart()
	waitConnected(t, c)
	if n, err := c.IncrExpire(ctx, "n", 1, time.Minute); err != nil || n != 1 {
		t.Fatalf("after Redis came up: %d, %v", n, err)
	}
	if !strings.Contains(logs.String(), "connected to "+srv.Addr()) {
		t.Errorf("log does not say connected:\n%s", logs)
	}
	st := c.Stats()
	if st.Unavailable < 4 || st.Connects != 1 || st.ConnectFailures == 0 || !st.Connected {
		t.Errorf("stats: %+v", st)
	}
}

// TestStoppedAndRestarted: calls fail while Redis is down, then recover.
func TestStoppedAndRestarted(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), nil))
	ctx := context.Background()
	if _, err := c.IncrExpire(ctx, "n", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	for range 3 {
		err, took := timed(func() error { _, err := c.IncrExpire(ctx, "n", 1, time.Minute); return err })
		wantKind(t, err, ErrUnavailable)
		if took > failFastMax {
			t.Fatalf("a call while Redis is down took %s", took)
		}
	}
	srv.Restart()
	eventually(t, "IncrExpire after the restart", func() error {
		_, err := c.IncrExpire(ctx, "n", 1, time.Minute)
		return err
	})
}

// TestSlow: a server holding commands gives ErrTimeout after about the
// read timeout, not after the pause; the client recovers after it.
func TestSlow(t *testing.T) {
	srv := redistest.Start(t)
	const readTimeout = 300 * time.Millisecond
	c := connectedClient(t, section(t, srv.Addr(), func(r *config.Redis) { r.ReadTimeout = config.Duration(readTimeout) }))
	ctx := context.Background()
	if _, _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	const pause = 3 * time.Second
	srv.Pause(pause)
	err, took := timed(func() error { _, err := c.IncrExpire(ctx, "a", 1, time.Minute); return err })
	wantKind(t, err, ErrTimeout)
	if took < readTimeout*9/10 || took > pause*2/3 {
		t.Errorf("ErrTimeout after %s, want about the read timeout %s", took, readTimeout)
	}
	// A context deadline shorter than the read timeout wins.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, err = c.Get(short, "a")
	wantKind(t, err, ErrTimeout)
	eventually(t, "Get after the pause", func() error { _, _, err := c.Get(ctx, "a"); return err })
	if st := c.Stats(); st.Timeouts < 2 {
		t.Errorf("stats: %+v", st)
	}
}

// TestCanceled: a cancelled context gives ErrCanceled, before the call or
// while it waits for Redis.
func TestCanceled(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), func(r *config.Redis) { r.ReadTimeout = config.Duration(5 * time.Second) }))
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := c.Get(done, "a")
	wantKind(t, err, ErrCanceled)

	srv.Pause(3 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	err, took := timed(func() error { _, err := c.IncrExpire(ctx, "a", 1, time.Minute); return err })
	wantKind(t, err, ErrCanceled)
	if took > 2*time.Second {
		t.Errorf("ErrCanceled after %s", took)
	}
	if st := c.Stats(); st.Canceled != 2 || st.Errors != 2 {
		t.Errorf("stats: %+v", st)
	}
}

func TestClose(t *testing.T) {
	srv := redistest.Start(t)
	c := connectedClient(t, section(t, srv.Addr(), nil))
	c.Close()
	c.Close() // twice is fine
	_, _, err := c.Get(context.Background(), "a")
	wantKind(t, err, ErrClosed)
	if c.Connected() {
		t.Error("Connected after Close")
	}

	// Closing a client still trying to connect returns promptly.
	srv.Stop()
	down, _ := newClient(t, section(t, srv.Addr(), nil))
	time.Sleep(50 * time.Millisecond)
	err, took := timed(func() error { down.Close(); return nil })
	if took > failFastMax {
		t.Errorf("Close while connecting took %s", took)
	}
	_, _, err = down.Get(context.Background(), "a")
	wantKind(t, err, ErrClosed)
}

func TestNewRefusesUnvalidated(t *testing.T) {
	for _, r := range []*config.Redis{nil, {}, {Addresses: []string{"a:1"}}} {
		if c, err := New(r, nil); err == nil {
			c.Close()
			t.Errorf("New(%v) accepted", r)
		}
	}
}
