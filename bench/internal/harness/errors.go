package harness

import "errors"

var (
	// ErrNotReady is returned when a peer does not answer 200 through the
	// upstream within its start timeout; the peer is skipped.
	ErrNotReady = errors.New("harness: peer did not become ready")
	// ErrExited is returned when a started process exits before it was asked
	// to stop.
	ErrExited = errors.New("harness: process exited")
	// ErrNoWrkReport is returned when wrk's output lacks the SLUICE-BENCH
	// line that bench/conf/wrk/report.lua prints (wrk failed or was killed).
	ErrNoWrkReport = errors.New("harness: no SLUICE-BENCH line in wrk output")
	// ErrNoStraceTotal is returned when `strace -c` output has no total line.
	ErrNoStraceTotal = errors.New("harness: no total line in strace -c output")
	// ErrBadProcStat is returned when /proc/PID/stat cannot be parsed.
	ErrBadProcStat = errors.New("harness: malformed /proc/PID/stat")
	// ErrUnknownScenario is returned for a -scenarios entry the harness does
	// not know.
	ErrUnknownScenario = errors.New("harness: unknown scenario")
	// ErrUnknownPeer is returned for a -proxies entry the harness does not know.
	ErrUnknownPeer = errors.New("harness: unknown proxy")
)
