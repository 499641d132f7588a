package live

import (
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/sluice-gw/sluice/atomicfile"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/lowprio"
)

// persister writes accepted changes back to the config file, off the
// change's path: twenty changes a second must not wait for the disk.
// Changes that arrive while it writes or waits (writes are at least
// minWriteGap apart) are coalesced: the next write carries the newest
// version. A change is therefore on disk about a second after it is in
// force (the write waits for an idle core first: up to writeUrgentAfter
// more on a saturated gateway); a crash in between loses it from the file
// (never the file itself: the write is a temporary file renamed over the
// old one). Routes
// are encoded once per revision (config.YAMLEncoder): encoding 10,000
// routes whole takes seconds on a busy machine. So the writer also encodes
// (without writing) each configuration that did not come from a change it
// writes, the one the process started with and each reload of the file
// (warm): when the first change comes, its write-back encodes one route,
// not 10,000 on the cores that serve requests while the change is measured.
type persister struct {
	file  string
	logf  func(string, ...any)
	kick  chan struct{}
	hurry chan struct{} // cuts the wait between two writes short: a flush, or close
	done  chan struct{}
	enc   *config.YAMLEncoder // used by run only

	mu      sync.Mutex
	wantCfg *config.Config
	wantVer uint64
	warmCfg *config.Config // to encode without writing, when no write is due
	wrote   uint64
	lastErr error
	writing bool       // a write is under way
	writes  uint64     // writes ended, well or not
	flushed *sync.Cond // signalled after each write
	closed  bool

	thread *lowprio.Thread // the writer's, lowered (run)
	due    func()          // ends the job (Thread.Job) of the write or warm-up due, or nil
	began  time.Time       // when the writer last took work: the next write is a gap after it

	// kickClosed: kick is closed (close), and the writer ends or has
	// ended: nothing may send on kick, nor start a job on its thread.
	kickClosed bool
}

func newPersister(file string, logf func(string, ...any)) *persister {
	p := &persister{file: file, logf: logf, kick: make(chan struct{}, 1), hurry: make(chan struct{}, 1), done: make(chan struct{}), enc: &config.YAMLEncoder{}}
	p.flushed = sync.NewCond(&p.mu)
	threads := make(chan *lowprio.Thread)
	go p.run(threads)
	p.thread = <-threads
	return p
}

// writeIdleFor is how long a write or warm-up that is due runs in the
// loops' idle time before it takes a nice-10 share of a busy core, and
// writeUrgentAfter when a write takes the loops' own priority: a write of
// 10,000 routes is about 3.5 ms of CPU (lowprio.go says why idle time
// first). Both count from when the work became due, which the writer's
// own wake-up, in idle time, may come long after. A warm-up, which
// nothing waits for, stays at nice 10 (warmUrgentAfter: in practice never).
const (
	writeIdleFor     = 200 * time.Millisecond
	writeUrgentAfter = time.Second
	warmUrgentAfter  = 1000 * time.Hour
)

// dueIn starts the writer's job for work due within wait, raised to the
// loops' priority urgentAfter after it is due, unless a job is started;
// with p.mu held.
func (p *persister) dueIn(wait, urgentAfter time.Duration) {
	if p.due == nil && !p.kickClosed {
		p.due = p.thread.Job(wait+writeIdleFor, wait+urgentAfter)
	}
}

// untilNextWrite is how long the writer waits before its next write: the
// rest of the gap after the last one; with p.mu held.
func (p *persister) untilNextWrite() time.Duration {
	return max(0, minWriteGap-time.Since(p.began))
}

// dueNow starts the writer's job again for work due now (a flush);
// with p.mu held.
func (p *persister) dueNow() {
	if p.due != nil {
		p.due()
		p.due = nil
	}
	if !p.kickClosed {
		p.due = p.thread.Job(writeIdleFor, writeUrgentAfter)
	}
}

// doneWith ends the job of the work just done (wrote: the version
// written or tried, 0 for none). A change or a warm-up that came while
// the writer worked is due in its turn: its job starts again. A write
// that failed is tried again with the next change, not before: no job
// waits for it.
func (p *persister) doneWith(wrote uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.due == nil {
		return
	}
	p.due()
	p.due = nil
	switch {
	case p.wantCfg != nil && p.wantVer != p.wrote && p.wantVer != wrote:
		p.dueIn(p.untilNextWrite(), writeUrgentAfter)
	case p.warmCfg != nil:
		p.dueIn(minWriteGap, warmUrgentAfter)
	}
}

// want asks for cfg (version ver) to be written.
func (p *persister) want(cfg *config.Config, ver uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wantCfg, p.wantVer = cfg, ver
	p.dueIn(p.untilNextWrite(), writeUrgentAfter)
	p.kickLocked() // a write already due takes the newest
}

// kickLocked wakes the writer, unless it is stopped; with p.mu held (a
// send on the closed channel panicked: a flush or a change after close).
func (p *persister) kickLocked() {
	if p.kickClosed {
		return
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// forget drops the write that is due, if any: the file is newer. cfg is
// the file's configuration, which the writer encodes (warm) so that the
// next change writes back without encoding every route.
func (p *persister) forget(cfg *config.Config) {
	p.mu.Lock()
	p.wantCfg = nil
	p.flushed.Broadcast()
	p.mu.Unlock()
	p.warm(cfg)
}

// warm asks the writer to encode cfg, whose routes the next write-back
// is likely to keep, without writing it.
func (p *persister) warm(cfg *config.Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.warmCfg = cfg
	p.dueIn(0, warmUrgentAfter)
	p.kickLocked()
}

// minWriteGap spaces the writes of a burst of changes: twenty changes a
// second are one write a second, not twenty. A write of 10,000 routes
// (2.3 MB, fsynced twice) costs about 3.5 ms of CPU, which at the 200 ms
// this used to be was a quarter of what each of twenty changes a second
// cost, taken from the cores that serve requests.
const minWriteGap = time.Second

func (p *persister) run(threads chan<- *lowprio.Thread) {
	defer close(p.done)
	runtime.LockOSThread() // below the event loops, as changes are (lowprio.go)
	t := lowprio.NewThread()
	threads <- t // at the starter's priority: lowered, the send could wait for an idle core
	t.Lower()
	for range p.kick {
		p.mu.Lock()
		wait := p.untilNextWrite()
		p.mu.Unlock()
		if wait > 0 && !p.isClosed() {
			p.pause(wait)
		}
		p.mu.Lock()
		p.began = time.Now()
		p.mu.Unlock()
		p.doneWith(p.writeOrWarm())
	}
	p.mu.Lock()
	if p.due != nil { // its timers must not touch the thread once it is gone
		p.due()
		p.due = nil
	}
	p.mu.Unlock()
}

// writeOrWarm writes the version wanted if it is not on disk, or else
// encodes the configuration to warm up, if any; it returns the version it
// handled (0: none).
func (p *persister) writeOrWarm() uint64 {
	p.mu.Lock()
	cfg, ver, warm := p.wantCfg, p.wantVer, p.warmCfg
	p.warmCfg = nil
	p.mu.Unlock()
	if cfg == nil || ver == p.wroteVersion() {
		if warm != nil && !p.isClosed() {
			_ = p.enc.WriteTo(io.Discard, warm) // an error shows, and is logged, when a write encodes it
		}
		return 0
	}
	p.mu.Lock()
	p.writing = true
	p.mu.Unlock()
	err := writeConfig(p.file, cfg, p.enc)
	if err != nil {
		p.logf("config: writing version %d to %s: %v (the change is in force, not on disk)", ver, p.file, err)
	}
	p.mu.Lock()
	if err == nil {
		p.wrote = ver
	}
	p.lastErr = err
	p.writing = false
	p.writes++
	p.flushed.Broadcast()
	p.mu.Unlock()
	return ver
}

// pause waits d, or less if a flush or close asks for the write now.
func (p *persister) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.hurry:
	}
}

// hasten asks the writer for a write now: kicked, and not waiting for the
// gap between writes, nor long for an idle core. With p.mu held.
func (p *persister) hasten() {
	p.dueNow()
	select {
	case p.hurry <- struct{}{}:
	default:
	}
	p.kickLocked()
}

// flush waits until the newest accepted version is on disk, without the
// gap between writes: before a new process reads the file (an upgrade).
// It returns the error of the write that failed, which it tried once.
func (p *persister) flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The write under way may carry an older version: wait for the one
	// after it too.
	need := p.writes + 1
	if p.writing {
		need++
	}
	p.hasten()
	for p.wantCfg != nil && p.wrote != p.wantVer && p.writes < need && !p.closed {
		p.flushed.Wait()
	}
	if p.wantCfg != nil && p.wrote != p.wantVer {
		if p.lastErr != nil {
			return p.lastErr
		}
		return ErrClosed
	}
	return nil
}

func (p *persister) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *persister) wroteVersion() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wrote
}

func (p *persister) status() (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wrote, p.lastErr
}

// close waits for the newest version to be written (or to fail), then
// stops the writer.
func (p *persister) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.hasten()
	for p.wantCfg != nil && p.wrote != p.wantVer && p.lastErr == nil {
		p.flushed.Wait()
	}
	err := p.lastErr
	p.kickClosed = true
	close(p.kick)
	p.mu.Unlock()
	<-p.done
	return err
}

// writtenHeader opens every file the writer writes.
const writtenHeader = "# Written by sluice: the running configuration, changes through the Admin API included.\n# Comments of the original file are not kept.\n"

// writeConfig replaces file with cfg's YAML atomically (package
// atomicfile). The file keeps its permissions (it may hold secrets).
func writeConfig(file string, cfg *config.Config, enc *config.YAMLEncoder) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(file); err == nil {
		mode = st.Mode().Perm()
	}
	return atomicfile.WriteWith(file, mode, func(w io.Writer) error {
		if _, err := io.WriteString(w, writtenHeader); err != nil {
			return err
		}
		return enc.WriteTo(w, cfg)
	})
}
