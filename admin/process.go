//go:build linux

package admin

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// processCollector exposes client_golang's process_* families (the same
// names, help and values) at a fraction of their cost: client_golang's
// process collector parses /proc/self/stat, /proc/self/limits and
// /proc/self/net/netstat into new structures and lists /proc/self/fd as
// one string per descriptor, which on a gateway holding 10,000
// connections is 10,000 strings of garbage per scrape. This one reads
// what it needs into one reused buffer, counts descriptors from the raw
// directory entries, and takes CPU time and limits from getrusage(2) and
// getrlimit(2). Linux only: elsewhere New registers client_golang's
// (process_other.go).
//
// Its Collect is safe for concurrent use (the buffer is behind a mutex).
type processCollector struct {
	start float64 // process_start_time_seconds, read once

	mu  sync.Mutex
	buf []byte
}

var (
	descCPU       = prometheus.NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", nil, nil)
	descOpenFDs   = prometheus.NewDesc("process_open_fds", "Number of open file descriptors.", nil, nil)
	descMaxFDs    = prometheus.NewDesc("process_max_fds", "Maximum number of open file descriptors.", nil, nil)
	descVsize     = prometheus.NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", nil, nil)
	descMaxVsize  = prometheus.NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", nil, nil)
	descRSS       = prometheus.NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", nil, nil)
	descStartTime = prometheus.NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", nil, nil)
	descNetIn     = prometheus.NewDesc("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", nil, nil)
	descNetOut    = prometheus.NewDesc("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", nil, nil)
)

// userHZ is the unit of /proc's clock-tick fields (what procfs assumes).
const userHZ = 100

func newProcessCollector() prometheus.Collector {
	c := &processCollector{buf: make([]byte, 0, 8<<10)}
	c.start = c.startTime()
	return c
}

// Describe sends nothing: the collector is unchecked, like Collector.
func (c *processCollector) Describe(chan<- *prometheus.Desc) {}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		ch <- prometheus.MustNewConstMetric(descCPU, prometheus.CounterValue, cpu.Seconds())
	}
	if c.read("/proc/self/statm") {
		// size resident shared text lib data dt, in pages
		page := float64(os.Getpagesize())
		f := bytes.Fields(c.buf)
		if len(f) >= 2 {
			ch <- prometheus.MustNewConstMetric(descVsize, prometheus.GaugeValue, parseFloat(f[0])*page)
			ch <- prometheus.MustNewConstMetric(descRSS, prometheus.GaugeValue, parseFloat(f[1])*page)
		}
	}
	if c.start > 0 {
		ch <- prometheus.MustNewConstMetric(descStartTime, prometheus.GaugeValue, c.start)
	}
	if n, ok := c.countFDs(); ok {
		ch <- prometheus.MustNewConstMetric(descOpenFDs, prometheus.GaugeValue, float64(n))
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		ch <- prometheus.MustNewConstMetric(descMaxFDs, prometheus.GaugeValue, float64(lim.Cur))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &lim) == nil {
		ch <- prometheus.MustNewConstMetric(descMaxVsize, prometheus.GaugeValue, float64(lim.Cur))
	}
	if c.read("/proc/self/net/netstat") {
		in, out := ipExtOctets(c.buf)
		ch <- prometheus.MustNewConstMetric(descNetIn, prometheus.CounterValue, in)
		ch <- prometheus.MustNewConstMetric(descNetOut, prometheus.CounterValue, out)
	}
}

// read reads the whole of a /proc file into c.buf.
func (c *processCollector) read(path string) bool {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd)
	c.buf = c.buf[:0]
	for {
		if len(c.buf) == cap(c.buf) {
			c.buf = append(c.buf, 0)[:len(c.buf)]
		}
		n, err := syscall.Read(fd, c.buf[len(c.buf):cap(c.buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return false
		}
		if n == 0 {
			return true
		}
		c.buf = c.buf[:len(c.buf)+n]
	}
}

// countFDs counts the entries of /proc/self/fd from the raw directory
// records (the descriptor reading it included, as procfs counts it).
func (c *processCollector) countFDs() (int, bool) {
	fd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer syscall.Close(fd)
	buf := c.buf[:cap(c.buf)]
	entries := 0
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, false
		}
		if n <= 0 {
			return entries - 2, true // "." and ".."
		}
		for off := 0; off+direntReclenOff+2 <= n; {
			reclen := int(buf[off+direntReclenOff]) | int(buf[off+direntReclenOff+1])<<8
			if reclen == 0 {
				break
			}
			entries++
			off += reclen
		}
	}
}

// direntReclenOff is where a linux_dirent64's d_reclen (little-endian
// uint16) sits: after d_ino and d_off.
const direntReclenOff = 16

// ipExtOctets reads InOctets and OutOctets from the IpExt lines of
// /proc/self/net/netstat (a line of names, then a line of values).
func ipExtOctets(b []byte) (in, out float64) {
	var names []byte
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, []byte("IpExt:")) {
			continue
		}
		if names == nil {
			names = line
			continue
		}
		f := bytes.Fields(line)
		for i, name := range bytes.Fields(names) {
			if i >= len(f) {
				break
			}
			switch string(name) {
			case "InOctets":
				in = parseFloat(f[i])
			case "OutOctets":
				out = parseFloat(f[i])
			}
		}
		return in, out
	}
	return 0, 0
}

// startTime is the process's start, unix seconds: /proc/self/stat's field
// 22 (clock ticks after boot) plus /proc/stat's btime; 0 when unknown.
func (c *processCollector) startTime() float64 {
	if !c.read("/proc/stat") {
		return 0
	}
	var boot float64
	for _, line := range bytes.Split(c.buf, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			boot = parseFloat(bytes.TrimSpace(v))
		}
	}
	if boot == 0 || !c.read("/proc/self/stat") {
		return 0
	}
	// The command name (field 2) may hold spaces: count from its ")".
	i := bytes.LastIndexByte(c.buf, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(c.buf[i+1:]) // from field 3
	if len(f) < 20 {
		return 0
	}
	return boot + parseFloat(f[22-3])/userHZ
}

func parseFloat(b []byte) float64 {
	v, _ := strconv.ParseFloat(string(b), 64)
	return v
}
