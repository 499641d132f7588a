package harness

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process the harness started, in its own process group so that
// stopping it also stops its children (nginx workers).
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string
	done    chan struct{}
	waitErr error
}

// PID is the process id (taskset execs the target, so it is the target's).
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	if exited, _ := p.Exited(); exited {
		return
	}
	pgid := p.Cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived their leader (they share its group).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Failure summarises why the process died for a one-line report: the Go
// panic or fatal error line with the frames after it when the log has one
// (the tail of a Go stack trace names only the event loop), else the tail.
func (p *Proc) Failure() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	for i, ln := range lines {
		if strings.HasPrefix(ln, "panic: ") || strings.HasPrefix(ln, "fatal error: ") {
			end := min(len(lines), i+8)
			return strings.TrimSpace(strings.Join(lines[i:end], "\n"))
		}
	}
	return p.LogTail(400)
}

// LogTail returns the last n bytes of the process's log, for error messages.
func (p *Proc) LogTail(n int64) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// Supervisor starts processes and stops every one of them at the end, on
// error or on a signal. Safe for concurrent use.
type Supervisor struct {
	mu    sync.Mutex
	procs []*Proc
	dir   string
}

// NewSupervisor returns a Supervisor writing process logs under dir.
func NewSupervisor(dir string) *Supervisor { return &Supervisor{dir: dir} }

// StartOpts says how to start one process.
type StartOpts struct {
	Name  string
	CPUs  string   // taskset CPU list ("0", "1", "0-1"); empty: no pinning
	Argv  []string // program and arguments
	Env   []string // extra environment, appended to the harness's
	Stdin io.Reader
	// Stdout, when set, receives stdout instead of the log file.
	Stdout io.Writer
}

// Start starts a process; its stderr (and stdout unless redirected) go to
// dir/NAME.log.
func (s *Supervisor) Start(o StartOpts) (*Proc, error) {
	argv := o.Argv
	if o.CPUs != "" {
		argv = append([]string{"taskset", "-c", o.CPUs}, argv...)
	}
	logPath := fmt.Sprintf("%s/%s.log", s.dir, o.Name)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdin = o.Stdin
	cmd.Stdout = logFile
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", o.Name, err)
	}
	p := &Proc{Name: o.Name, Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		if p.waitErr == nil {
			p.waitErr = ErrExited
		} else {
			p.waitErr = errors.Join(ErrExited, p.waitErr)
		}
		logFile.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// StopAll stops every process still running, most recent first.
func (s *Supervisor) StopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(5 * time.Second)
	}
}

// Forget drops p from the list StopAll stops (after the caller stopped it).
func (s *Supervisor) Forget(p *Proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return
		}
	}
}
