package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcStat is what the harness reads from one /proc/PID/stat line.
type ProcStat struct {
	PID       int
	PPID      int
	UserTicks uint64 // utime: user CPU of every thread, in clock ticks
	SysTicks  uint64 // stime: system CPU of every thread, in clock ticks
	RSSPages  uint64 // resident set size, in pages
}

// ParseProcStat parses the contents of /proc/PID/stat. The command name is
// skipped by the last ')' since it may itself hold spaces and parentheses.
func ParseProcStat(b []byte) (ProcStat, error) {
	var st ProcStat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return st, ErrBadProcStat
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return st, ErrBadProcStat
	}
	// Fields after the name, numbered as in proc(5): state is field 3.
	f := strings.Fields(string(b[closing+1:]))
	const (
		fState = 3
		fPPID  = 4
		fUtime = 14
		fStime = 15
		fRSS   = 24
	)
	if len(f) < fRSS-fState+1 {
		return st, ErrBadProcStat
	}
	get := func(field int) (uint64, error) { return strconv.ParseUint(f[field-fState], 10, 64) }
	ppid, err1 := get(fPPID)
	ut, err2 := get(fUtime)
	stm, err3 := get(fStime)
	rss, err4 := get(fRSS)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return st, ErrBadProcStat
	}
	return ProcStat{PID: pid, PPID: int(ppid), UserTicks: ut, SysTicks: stm, RSSPages: rss}, nil
}

// TreeUsage sums CPU and RSS over a process and all its descendants (nginx's
// master and worker, HAProxy, a Go process).
type TreeUsage struct {
	UserTicks uint64
	SysTicks  uint64
	RSSBytes  uint64
	PIDs      []int // the root first, then descendants
}

var pageSize = uint64(os.Getpagesize())

// ReadTree reads /proc for root and its descendants. A descendant that exits
// between the scan and the read is skipped.
func ReadTree(root int) (TreeUsage, error) {
	rootStat, err := readStat(root)
	if err != nil {
		return TreeUsage{}, err
	}
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return TreeUsage{}, err
	}
	stats := map[int]ProcStat{root: rootStat}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		stats[pid] = st
		children[st.PPID] = append(children[st.PPID], pid)
	}
	var u TreeUsage
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		st := stats[pid]
		u.UserTicks += st.UserTicks
		u.SysTicks += st.SysTicks
		u.RSSBytes += st.RSSPages * pageSize
		u.PIDs = append(u.PIDs, pid)
		queue = append(queue, children[pid]...)
	}
	return u, nil
}

func readStat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcStat{}, err
	}
	return ParseProcStat(b)
}

// ClockTicks returns the kernel's USER_HZ (`getconf CLK_TCK`), 100 if it
// cannot be asked.
func ClockTicks() uint64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err != nil {
		return 100
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n == 0 {
		return 100
	}
	return n
}

// Delta is the CPU a process tree used between two readings, in
// microseconds, and its RSS at the second reading.
type Delta struct {
	UserMicros float64
	SysMicros  float64
	RSSBytes   uint64
}

// Sub returns after minus before, converting ticks with hz.
func Sub(before, after TreeUsage, hz uint64) Delta {
	toMicros := func(a, b uint64) float64 {
		if b < a { // a descendant exited: its ticks left the sum
			return 0
		}
		return float64(b-a) * 1e6 / float64(hz)
	}
	return Delta{
		UserMicros: toMicros(before.UserTicks, after.UserTicks),
		SysMicros:  toMicros(before.SysTicks, after.SysTicks),
		RSSBytes:   after.RSSBytes,
	}
}

func (d Delta) String() string {
	return fmt.Sprintf("user %.0fµs sys %.0fµs rss %d", d.UserMicros, d.SysMicros, d.RSSBytes)
}
