package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// The listener belongs to the engine, not to gnet.
//
// gnet v2.10 binds its own listener and has no way to stop accepting while
// its connections go on: Engine.Stop closes every connection, and a
// listener it created cannot be swapped for an inherited one. A drain that
// must not close accepted connections, and an upgrade in which a new
// process takes over the listening socket, both need the accept side in
// the engine's hands. So the server binds (or inherits) a net.Listener,
// runs gnet's event loops as a client engine (loops without a listener),
// and a few accept goroutines hand every accepted connection to a loop
// with Enroll, which duplicates the descriptor and registers it. Stopping
// to accept is closing that listener: connections the kernel completed but
// nobody accepted yet stay in the socket's queue for the other process that
// holds it (the upgrade), or are refused when no one does.
//
// The cost is one dup, one close and a hand-over to the loop per accepted
// connection; keep-alive traffic does not see it.

// Listen binds Options.Listen with SO_REUSEADDR (a restart binds at once
// although the previous process's closed connections sit in TIME_WAIT),
// unless Options.Listener gave a socket. Serve calls it; calling it first
// tells a bind failure apart from anything later.
func (s *Server) Listen() error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.ln != nil {
		return nil
	}
	if s.lnClosed {
		return errors.New("engine: listener already closed")
	}
	if s.opts.Listener != nil {
		s.ln = s.opts.Listener
		return nil
	}
	lc := net.ListenConfig{
		KeepAlive: -1, // as before with gnet: no TCP keep-alive on client connections
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			}); err != nil {
				return err
			}
			return serr
		},
	}
	ln, err := lc.Listen(context.Background(), "tcp", s.opts.Listen)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// ListenerFile returns a duplicate of the listening socket, for a process
// that takes over (os/exec ExtraFiles). The caller closes it.
func (s *Server) ListenerFile() (*os.File, error) {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.ln == nil || s.lnClosed {
		return nil, errors.New("engine: no listener")
	}
	f, ok := s.ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, fmt.Errorf("engine: a %T cannot be handed over", s.ln)
	}
	return f.File()
}

// acceptGoroutines is how many goroutines accept: an accept waits for its
// connection's registration on a loop, so a few run side by side.
func (s *Server) acceptGoroutines() int { return min(max(s.opts.Workers, 4), 8) }

func (s *Server) startAccepting() {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.lnClosed {
		return
	}
	for range s.acceptGoroutines() {
		s.accepters.Add(1)
		go s.acceptLoop(s.ln)
	}
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.accepters.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or memory: wait and retry, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logf("accept: %v; retrying in %v", err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		// EnrollContext duplicates the descriptor, closes c, and returns once
		// a loop has the connection (OnOpen ran).
		if _, err := s.loops.EnrollContext(c, nil); err != nil {
			s.logf("accept: cannot hand a connection to a worker: %v", err)
		}
	}
}

// StopAccepting closes the listener and waits until no goroutine accepts:
// connections accepted so far are served; the ones after are not taken
// from the kernel's queue by this process. Safe to call more than once.
func (s *Server) StopAccepting() {
	s.lnMu.Lock()
	ln := s.ln
	wasClosed := s.lnClosed
	s.lnClosed = true
	s.lnMu.Unlock()
	if ln != nil && !wasClosed {
		_ = ln.Close()
	}
	s.accepters.Wait()
}
