package harness

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// CPUTimes is one "cpuN" line of /proc/stat, in clock ticks.
type CPUTimes struct {
	Busy  uint64 // user+nice+system+irq+softirq+steal
	Steal uint64 // time the hypervisor gave this virtual CPU to someone else
	Total uint64 // Busy + idle + iowait
}

// ParseProcStatCPUs parses the per-CPU lines of /proc/stat.
func ParseProcStatCPUs(b []byte) map[int]CPUTimes {
	out := map[int]CPUTimes{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var v [8]uint64 // user nice system idle iowait irq softirq steal
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		}
		busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		out[n] = CPUTimes{Busy: busy, Steal: v[7], Total: busy + v[3] + v[4]}
	}
	return out
}

func readCPUTimes() map[int]CPUTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	return ParseProcStatCPUs(b)
}

// ParseCPUList parses a taskset list such as "0", "0,2" or "0-1".
func ParseCPUList(s string) []int {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out
}

// busyPercent is how busy the CPUs in set were between two readings, in
// percent of their capacity (100 = every listed CPU fully busy), and the
// share of it that was steal.
func busyPercent(before, after map[int]CPUTimes, set []int) (busy, steal float64) {
	var dBusy, dSteal, dTotal uint64
	for _, c := range set {
		b, a := before[c], after[c]
		if a.Total < b.Total {
			continue
		}
		dBusy += a.Busy - b.Busy
		dSteal += a.Steal - b.Steal
		dTotal += a.Total - b.Total
	}
	if dTotal == 0 {
		return 0, 0
	}
	return 100 * float64(dBusy) / float64(dTotal), 100 * float64(dSteal) / float64(dTotal)
}
