package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// StartRedis starts the redislimit scenario's redis-server on a free
// loopback port, on the load CPUs (it is a backend, like the upstream),
// without persistence, and waits until it answers PING. measure reads its
// CPU beside the proxy's while it runs; StopRedis ends it.
func (r *Runner) StartRedis(ctx context.Context) error {
	port, err := freeport.Port()
	if err != nil {
		return err
	}
	p, err := r.sup.Start(StartOpts{Name: fmt.Sprintf("redis-%d", port), CPUs: r.cfg.LoadCPUs, Argv: []string{
		"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--daemonize", "no", "--maxclients", "10000", "--dir", r.dir}})
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		reply, err := RedisCommand(addr, "PING")
		if err == nil && reply[0] == "PONG" {
			break
		}
		if exited, _ := p.Exited(); exited || time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop(3 * time.Second)
			r.sup.Forget(p)
			return fmt.Errorf("redis-server on %s: %w (%v); log: %s", addr, ErrNotReady, err, p.LogTail(400))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.redis, r.redisPort = p, port
	r.logf("redis-server on %s (pid %d, cpus %s)", addr, p.PID(), r.cfg.LoadCPUs)
	return nil
}

// StopRedis stops the redis-server StartRedis started, if any.
func (r *Runner) StopRedis() {
	if r.redis == nil {
		return
	}
	r.redis.Stop(5 * time.Second)
	r.sup.Forget(r.redis)
	r.redis, r.redisPort = nil, 0
}

// RedisCommand sends one command on a new connection and returns the reply
// flattened to strings: a simple string, an integer or a bulk string is one
// element, an array (one level) its elements; an error reply is an error.
// For the harness's checks, not for load.
func RedisCommand(addr string, args ...string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return readRESP(bufio.NewReader(c), true)
}

var errRESP = errors.New("harness: malformed RESP reply")

func readRESP(br *bufio.Reader, top bool) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errRESP
	}
	switch line[0] {
	case '+', ':':
		return []string{line[1:]}, nil
	case '-':
		return nil, fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return nil, errRESP
		}
		if n < 0 {
			return []string{""}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, err
		}
		return []string{string(buf[:n])}, nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || !top {
			return nil, errRESP
		}
		out := []string{}
		for i := 0; i < n; i++ {
			v, err := readRESP(br, false)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
		return out, nil
	}
	return nil, errRESP
}
