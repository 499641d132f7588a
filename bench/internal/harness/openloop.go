package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// runOpenLoop is RunWrk for a spec with a Rate: bench/cmd/rateload sends
// the requests at that rate whatever the server's answers take, so a
// server that stalls is measured by the requests that were due meanwhile
// (latency from when each was due: no coordinated omission).
func runOpenLoop(ctx context.Context, s WrkSpec) (WrkReport, []byte, error) {
	if s.RateBin == "" {
		return WrkReport{}, nil, fmt.Errorf("an open-loop run needs the rateload binary (bench/cmd/rateload)")
	}
	args := []string{s.RateBin, "-url", s.URL, "-conns", strconv.Itoa(s.Conns),
		"-rate", strconv.FormatFloat(s.Rate, 'f', -1, 64), "-duration", s.Duration.String()}
	if s.Windows > 0 {
		args = append(args, "-windows", s.Windows.String())
	}
	if s.CPUs != "" {
		args = append([]string{"taskset", "-c", s.CPUs}, args...)
	}
	runCtx, cancel := context.WithTimeout(ctx, s.Duration+60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(runCtx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return WrkReport{}, out, fmt.Errorf("rateload: %w: %s", err, lastLines(out, 5))
	}
	r, err := ParseRateloadOutput(out)
	if err == nil && s.Windows > 0 && r.Windows == nil {
		err = fmt.Errorf("rateload -windows printed no even_/odd_ fields: %q", lastLines(out, 3))
	}
	return r, out, err
}

// ParseRateloadOutput reads rateload's one line (key=value pairs) into a
// WrkReport: its errors (a failed connection or a status other than 200)
// count as read errors, the only kind it tells. Every field is required: a
// line from an older rateload (no p999_us, or no late_* whose latencies
// still hold the client's own lateness) is refused rather than read as zeros.
// The window fields (rateload -windows) come all or none.
func ParseRateloadOutput(out []byte) (WrkReport, error) {
	var r WrkReport
	fields := map[string]*int64{
		"requests": &r.Requests, "errors": &r.ErrRead, "duration_us": &r.DurationMicros,
		"p50_us": &r.LatP50Micros, "p90_us": &r.LatP90Micros, "p99_us": &r.LatP99Micros,
		"p999_us": &r.LatP999Micros, "max_us": &r.LatMaxMicros,
		"late_p50_us": &r.ClientLateP50Micros, "late_p99_us": &r.ClientLateP99Micros, "late_max_us": &r.ClientLateMaxMicros,
	}
	var win WindowsReport
	windowFields := map[string]*int64{
		"even_requests": &win.EvenRequests, "even_p99_us": &win.EvenP99Micros, "even_p999_us": &win.EvenP999Micros,
		"odd_requests": &win.OddRequests, "odd_p99_us": &win.OddP99Micros, "odd_p999_us": &win.OddP999Micros,
	}
	// Keys, not a count: a key printed twice must not stand in for a missing one.
	seen := make(map[string]bool, len(fields))
	seenWindows := make(map[string]bool, len(windowFields))
	for _, f := range bytes.Fields(out) {
		k, v, ok := bytes.Cut(f, []byte("="))
		dst, seenIn := fields[string(k)], seen
		if dst == nil {
			dst, seenIn = windowFields[string(k)], seenWindows
		}
		if !ok || dst == nil {
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return WrkReport{}, fmt.Errorf("rateload output: %s: %v", f, err)
		}
		*dst = n
		seenIn[string(k)] = true
	}
	if len(seen) != len(fields) {
		return WrkReport{}, fmt.Errorf("rateload output: %d of its %d fields in %q", len(seen), len(fields), lastLines(out, 3))
	}
	switch len(seenWindows) {
	case 0:
	case len(windowFields):
		r.Windows = &win
	default:
		return WrkReport{}, fmt.Errorf("rateload output: %d of the %d window fields in %q", len(seenWindows), len(windowFields), lastLines(out, 3))
	}
	return r, nil
}
