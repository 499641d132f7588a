// Package live holds a gateway's running configuration and puts changes to
// it in force: the Admin API's edits, a reloaded file. A change is
// validated, compiled (engine.Compiler: only what it touched) and swapped
// in (engine.Server.Swap) under one lock, so changes apply one at a time
// and in order, and a refused change changes nothing. Requests in flight
// finish on the version they started with.
//
// Every accepted change gets the next version number (the engine
// snapshot's), is logged with who made it, and, when the configuration
// came from a file, is written back to that file by a background writer
// (persist.go) so that a restart keeps it.
package live

import (
	"errors"
	"fmt"
	"sync"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// ErrStale: a change was made against a version that is no longer the
// running one (an If-Match the Admin API was given).
var ErrStale = errors.New("live: the configuration changed since that version")

// ErrClosed: a change was made after Store.Close.
var ErrClosed = errors.New("live: the store is closed")

// ErrHeld: a change was made while the store holds every change (Hold):
// an upgrade hands the gateway over to a new process, which serves what
// the file holds, so a change this process took now would be lost.
var ErrHeld = errors.New("live: an upgrade is under way: changes wait for the new process")

// Options configure a Store. Server and Compiler are required.
type Options struct {
	// Server is the engine whose snapshot changes.
	Server *engine.Server
	// Compiler compiles each new version; it must be the one that
	// compiled the running snapshot, so that it keeps what did not change.
	Compiler *engine.Compiler
	// File, when set, is where accepted changes are written back (atomic
	// replace). Default "": changes live until the process exits.
	File string
	// Prepare, when set, turns a validated config into the one compiled
	// (discovery fills in the targets it knows), or refuses it.
	Prepare func(next *config.Config) (*config.Config, error)
	// Rollback, when set, is told the running config again after a
	// change Prepare accepted was refused by the compiler.
	Rollback func(running *config.Config)
	// Committed, when set, runs after each swap (discovery binds to the
	// new lb groups).
	Committed func(cfg *config.Config)
	// WriteThrough, when set, stores a change made here (OriginAPI) where
	// the configuration lives besides this process (a fleet's Consul KV),
	// after it compiled and before it is put in force: its error refuses
	// the change (wrapping ErrStale when another writer got there first).
	WriteThrough func(running, next *config.Config) error
	// Logf receives one line per change and the writer's errors; nil is
	// silent.
	Logf func(format string, args ...any)
}

// Store is the running configuration. Safe for concurrent use.
type Store struct {
	opts Options

	mu      sync.Mutex // held for a whole change: changes apply in order
	cfg     *config.Config
	version uint64

	persist *persister // nil without a file
	control *lowPriority
	held    bool // Hold: changes are refused (ErrHeld), dry runs go on
}

// New returns the store of a gateway running cfg as its compiled snapshot
// running (already in force in opts.Server).
func New(opts Options, cfg *config.Config, running *engine.Snapshot) *Store {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	s := &Store{opts: opts, cfg: cfg, version: running.Version, control: newLowPriority()}
	if opts.File != "" {
		s.persist = newPersister(opts.File, opts.Logf)
		s.persist.warm(cfg)
	}
	return s
}

// SetWriteThrough sets Options.WriteThrough, for a writer made after the
// store (it needs the store to watch).
func (s *Store) SetWriteThrough(fn func(running, next *config.Config) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.WriteThrough = fn
}

// Current returns the running configuration, as declared (not as
// discovery completed it), and its version. The Config must not be
// changed.
func (s *Store) Current() (*config.Config, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg, s.version
}

// Change is one change to apply.
type Change struct {
	// Who made it, for the log: "admin 127.0.0.1:41234 (token)", "SIGHUP".
	Who string
	// What it is, for the log: "PUT /routes/api".
	What string
	// IfVersion, when not 0, is the version the change was made against:
	// another version running makes it fail with ErrStale.
	IfVersion uint64
	// Edit returns the new configuration from the running one, validated
	// (config's edits, Parse), or an error that refuses the change.
	Edit func(running *config.Config) (*config.Config, error)
	// DryRun validates and compiles the change without putting it in
	// force.
	DryRun bool
	// Origin is where the change already is: the Admin API's changes are
	// written back (to the file, or through to the fleet); a reload's came
	// from the file, a fleet change from Consul.
	Origin Origin
}

// Origin is where a change comes from.
type Origin int

const (
	OriginAPI   Origin = iota // the Admin API: written back and through
	OriginFile                // a reload of the file: nothing to write back
	OriginFleet               // the fleet's Consul KV: written back to the file, not through
)

// Result is an accepted change.
type Result struct {
	Config   *config.Config
	Old, New uint64 // versions before and after
}

// Apply validates, compiles and puts ch in force. On error nothing
// changed: the error is ErrStale, or Edit's, or the compiler's (a
// config.Error at the culprit's path when it is about the config).
func (s *Store) Apply(ch Change) (res Result, err error) {
	if !s.control.run(func() { res, err = s.apply(ch) }) {
		return Result{}, ErrClosed
	}
	return res, err
}

func (s *Store) apply(ch Change) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held && !ch.DryRun {
		return Result{}, ErrHeld
	}
	if ch.IfVersion != 0 && ch.IfVersion != s.version {
		return Result{}, fmt.Errorf("%w: %d is running, not %d", ErrStale, s.version, ch.IfVersion)
	}
	next, err := ch.Edit(s.cfg)
	if err != nil {
		return Result{}, err
	}
	if next == s.cfg {
		return Result{Config: next, Old: s.version, New: s.version}, nil // nothing changed
	}
	if ch.DryRun {
		return Result{Config: next, Old: s.version, New: s.version}, s.dryRun(next)
	}
	compiled := next
	if s.opts.Prepare != nil {
		if compiled, err = s.opts.Prepare(next); err != nil {
			return Result{}, err
		}
	}
	pending, err := s.opts.Compiler.Prepare(compiled)
	if err != nil {
		if s.opts.Rollback != nil {
			s.opts.Rollback(s.cfg)
		}
		return Result{}, err
	}
	if ch.Origin == OriginAPI && s.opts.WriteThrough != nil {
		if err := s.opts.WriteThrough(s.cfg, next); err != nil {
			pending.Discard()
			if s.opts.Rollback != nil {
				s.opts.Rollback(s.cfg)
			}
			return Result{}, err
		}
	}
	snap := pending.Commit()
	s.opts.Server.Swap(snap)
	if s.opts.Committed != nil {
		s.opts.Committed(next)
	}
	old := s.version
	s.cfg, s.version = next, snap.Version
	s.opts.Logf("config: %s by %s: version %d -> %d", ch.What, ch.Who, old, s.version)
	if s.persist != nil {
		if ch.Origin == OriginFile {
			s.persist.forget(next) // a write still due would overwrite what was just read
		} else {
			s.persist.want(next, s.version)
		}
	}
	return Result{Config: next, Old: old, New: s.version}, nil
}

// dryRun compiles next with a compiler of its own, which is thrown away:
// the running one must not keep anything of a version never in force.
func (s *Store) dryRun(next *config.Config) error {
	c := engine.NewCompiler(s.opts.Compiler.Policies)
	defer c.Close()
	_, err := c.Compile(next)
	return err
}

// Persisted returns the last version written to the file, and the error
// of the last write (nil when it succeeded); 0 and nil without a file.
func (s *Store) Persisted() (uint64, error) {
	if s.persist == nil {
		return 0, nil
	}
	return s.persist.status()
}

// Hold refuses every change from now on (ErrHeld) but dry runs, until
// Release. It returns once a change under way is done: a Flush after it
// writes the last change this process will take.
func (s *Store) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = true
}

// Release takes changes again after Hold (an upgrade that failed).
func (s *Store) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = false
}

// Flush waits until the last accepted change is in the file, without
// waiting for the gap the writer keeps between writes; nil at once without
// a file. Before another process reads the file (an upgrade), so that it
// starts with every change this one accepted.
func (s *Store) Flush() error {
	if s.persist == nil {
		return nil
	}
	return s.persist.flush()
}

// Close writes the last accepted change if it is not yet on disk, then
// stops the writer and the control thread; a change after it is refused
// with ErrClosed.
func (s *Store) Close() error {
	s.control.stop()
	if s.persist == nil {
		return nil
	}
	return s.persist.close()
}
