package main

// Zero-downtime restart and binary upgrade (docs/configuration.md,
// "Restart and upgrade").
//
// SIGUSR2 starts the executable again (the file this process was started
// from, which may hold a new binary by now) with the same arguments and the
// listening socket as an inherited descriptor. The new process serves that
// same socket — the same kernel accept queue, so no connection is refused
// or lost during the hand-over — and says it is ready through a pipe. Only
// then does this process stop accepting and drain, as on SIGTERM, and exit.
// If the new process fails or is not ready in time, this one goes on
// serving and says why.

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/engine"
)

// The environment of a process started by an upgrade.
const (
	envListenFD = "SLUICE_LISTEN_FD" // the inherited listening socket
	envReadyFD  = "SLUICE_READY_FD"  // write one byte there once serving
	envAdminFD  = "SLUICE_ADMIN_FD"  // the inherited admin listener, when there is one
)

// upgradeReadyTimeout bounds how long the old process waits for the new one.
const upgradeReadyTimeout = 60 * time.Second

// inheritedListener returns the listening socket a previous process handed
// over, or nil when this process was not started by an upgrade.
func inheritedListener() (net.Listener, error) {
	v := os.Getenv(envListenFD)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(envListenFD) // not for the processes this one starts
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor", envListenFD, v)
	}
	f := os.NewFile(uintptr(fd), "sluice-listener")
	defer f.Close()
	ln, err := net.FileListener(f) // a duplicate: closing f keeps it
	if err != nil {
		return nil, fmt.Errorf("inherited descriptor %d: %w", fd, err)
	}
	return ln, nil
}

// inheritedAdminListener returns the admin socket a previous process handed
// over, or nil. A socket that is not on the address the config now names
// is closed (the new config moved the admin listener: it binds afresh).
func inheritedAdminListener(configured string) (net.Listener, error) {
	v := os.Getenv(envAdminFD)
	if v == "" {
		return nil, nil
	}
	os.Unsetenv(envAdminFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor", envAdminFD, v)
	}
	f := os.NewFile(uintptr(fd), "sluice-admin")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inherited admin descriptor %d: %w", fd, err)
	}
	want, err := net.ResolveTCPAddr("tcp", configured)
	got, ok := ln.Addr().(*net.TCPAddr)
	if err != nil || !ok || want.Port != 0 && (want.Port != got.Port || !want.IP.Equal(got.IP) && !(want.IP == nil && got.IP.IsUnspecified())) {
		ln.Close()
		return nil, nil
	}
	return ln, nil
}

// notifyReady tells the process that started this one (an upgrade) and
// systemd (Type=notify; MAINPID moves to this process) that it serves.
func notifyReady() {
	if v := os.Getenv(envReadyFD); v != "" {
		os.Unsetenv(envReadyFD)
		if fd, err := strconv.Atoi(v); err == nil && fd >= 3 {
			f := os.NewFile(uintptr(fd), "sluice-ready")
			_, _ = f.Write([]byte{1})
			f.Close()
		}
	}
	sdNotify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()))
}

// sdNotify sends a state to systemd's notify socket, if there is one.
func sdNotify(state string) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return
	}
	if name[0] == '@' {
		name = "\x00" + name[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return
	}
	_, _ = c.Write([]byte(state))
	c.Close()
}

// upgrader starts the new process on SIGUSR2; ready receives its pid once
// it serves. Used from serve's goroutine only.
type upgrader struct {
	exe     string // resolved at start: the path, not the (maybe replaced) file
	stderr  io.Writer
	logger  *log.Logger
	running bool
	child   *exec.Cmd // the process of the upgrade under way
	ready   chan upgradeEnd
}

// upgradeEnd is how an upgrade attempt ended: the new process serves (err
// nil), or it failed and this process goes on serving.
type upgradeEnd struct {
	pid int
	err error
}

func newUpgrader(stderr io.Writer, logger *log.Logger) *upgrader {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return &upgrader{exe: exe, stderr: stderr, logger: logger, ready: make(chan upgradeEnd, 1)}
}

// start begins an upgrade unless one is under way; the wait for the new
// process runs on a goroutine, so signals are still handled meanwhile.
// It reports whether an upgrade is under way (false: the spawn failed).
func (u *upgrader) start(srv *engine.Server, adm *admin.Server) (underWay bool) {
	if u.running {
		u.logger.Print("SIGUSR2: an upgrade is already under way")
		return true
	}
	u.running = true
	cmd, wait, err := u.spawn(srv, adm)
	if err != nil {
		u.running = false
		u.logger.Printf("upgrade: %v; this process goes on serving", err)
		return false
	}
	u.child = cmd
	u.logger.Printf("upgrade: started %s as process %d; waiting until it serves", u.exe, cmd.Process.Pid)
	go func() {
		err := wait()
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			u.ready <- upgradeEnd{pid: cmd.Process.Pid, err: err} // done logs it
			return
		}
		u.ready <- upgradeEnd{pid: cmd.Process.Pid}
		_ = cmd.Wait() // reaps it if it exits while this process drains
	}()
	return true
}

// done records the end of an upgrade attempt. A failed one is logged
// here, after the caller made this process take changes again: the line
// says it goes on serving, and a change sent on reading it was refused
// (503) while it came before the release.
func (u *upgrader) done(end upgradeEnd) {
	u.running = end.err == nil
	if end.err != nil {
		u.child = nil
		u.logger.Printf("upgrade: process %d: %v; this process goes on serving", end.pid, end.err)
	}
}

// abort stops the new process of an upgrade that has not handed over yet:
// this process is told to stop (SIGTERM), and the service with it.
func (u *upgrader) abort() {
	if u.child == nil {
		return
	}
	select {
	case end := <-u.ready:
		if end.err != nil {
			u.done(end) // it had failed already
			return
		}
	default:
	}
	u.logger.Printf("upgrade: stopping process %d, which had not taken over", u.child.Process.Pid)
	_ = u.child.Process.Kill()
}

// spawn starts the executable with the listener as descriptor 3, a
// readiness pipe as 4 and the admin listener, if any, as 5; wait returns nil
// once the new process is ready.
func (u *upgrader) spawn(srv *engine.Server, adm *admin.Server) (*exec.Cmd, func() error, error) {
	lf, err := srv.ListenerFile()
	if err != nil {
		return nil, nil, err
	}
	defer lf.Close()
	var af *os.File
	if adm != nil {
		if af, err = adm.ListenerFile(); err != nil {
			return nil, nil, fmt.Errorf("admin listener: %w", err)
		}
		defer af.Close()
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(u.exe, os.Args[1:]...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if f, ok := u.stderr.(*os.File); ok {
		cmd.Stderr = f // given as is: no copying goroutine ties the two processes' lives
	}
	cmd.ExtraFiles = []*os.File{lf, w}
	cmd.Env = append(os.Environ(), envListenFD+"=3", envReadyFD+"=4")
	if af != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, af)
		cmd.Env = append(cmd.Env, envAdminFD+"=5")
	}
	err = cmd.Start()
	w.Close() // the child has its copy: EOF on r means it exited or gave up
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	wait := func() error {
		defer r.Close()
		got := make(chan error, 1)
		go func() {
			var b [1]byte
			if n, _ := r.Read(b[:]); n == 1 {
				got <- nil
				return
			}
			got <- errors.New("exited before it served")
		}()
		select {
		case err := <-got:
			return err
		case <-time.After(upgradeReadyTimeout):
			return fmt.Errorf("not serving after %v", upgradeReadyTimeout)
		}
	}
	return cmd, wait, nil
}
