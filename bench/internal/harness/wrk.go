package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// WrkReport is the line bench/conf/wrk/report.lua prints (latencies in µs).
type WrkReport struct {
	DurationMicros int64   `json:"duration_us"`
	Requests       int64   `json:"requests"`
	Bytes          int64   `json:"bytes"`
	ErrConnect     int64   `json:"err_connect"`
	ErrRead        int64   `json:"err_read"`
	ErrWrite       int64   `json:"err_write"`
	ErrStatus      int64   `json:"err_status"` // responses with status >= 400
	ErrTimeout     int64   `json:"err_timeout"`
	LatMeanMicros  float64 `json:"lat_mean_us"`
	LatP50Micros   int64   `json:"lat_p50_us"`
	LatP90Micros   int64   `json:"lat_p90_us"`
	LatP99Micros   int64   `json:"lat_p99_us"`
	LatP999Micros  int64   `json:"lat_p999_us"`
	LatMaxMicros   int64   `json:"lat_max_us"`
	// The open-loop client's own lateness in sending (rateload's late_*
	// fields; 0 from wrk): excluded from the latencies above, and small
	// against them when the client is a sound instrument.
	ClientLateP50Micros int64 `json:"client_late_p50_us,omitempty"`
	ClientLateP99Micros int64 `json:"client_late_p99_us,omitempty"`
	ClientLateMaxMicros int64 `json:"client_late_max_us,omitempty"`
	// Windows is the open loop's latencies split by window parity, when
	// the spec asked for Windows.
	Windows *WindowsReport `json:"windows,omitempty"`
}

// WindowsReport is rateload's even_* and odd_* fields: the requests due
// in even and in odd wall-clock windows of one run (bench/cmd/poller
// -align acts in the even ones).
type WindowsReport struct {
	EvenRequests   int64 `json:"even_requests"`
	EvenP99Micros  int64 `json:"even_p99_us"`
	EvenP999Micros int64 `json:"even_p999_us"`
	OddRequests    int64 `json:"odd_requests"`
	OddP99Micros   int64 `json:"odd_p99_us"`
	OddP999Micros  int64 `json:"odd_p999_us"`
}

// Errors is the sum of every error kind wrk counts.
func (r WrkReport) Errors() int64 {
	return r.ErrConnect + r.ErrRead + r.ErrWrite + r.ErrStatus + r.ErrTimeout
}

// RPS is completed requests per second of wrk's measured duration.
func (r WrkReport) RPS() float64 {
	if r.DurationMicros <= 0 {
		return 0
	}
	return float64(r.Requests) * 1e6 / float64(r.DurationMicros)
}

const wrkReportPrefix = "SLUICE-BENCH "

// ParseWrkOutput finds the report line in wrk's stdout.
func ParseWrkOutput(out []byte) (WrkReport, error) {
	var r WrkReport
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, wrkReportPrefix); i >= 0 {
			if err := json.Unmarshal([]byte(line[i+len(wrkReportPrefix):]), &r); err != nil {
				return r, fmt.Errorf("wrk report %q: %w", line, err)
			}
			return r, nil
		}
	}
	return r, ErrNoWrkReport
}

// WrkSpec is one wrk run.
type WrkSpec struct {
	URL      string
	Conns    int
	Threads  int
	Duration time.Duration
	Script   string // path of the Lua script (always includes report.lua)
	CPUs     string // taskset CPU list for wrk
	// Rate, when above 0, sends the traffic with RateBin
	// (bench/cmd/rateload) instead of wrk: an open loop at Rate requests a
	// second over Conns connections, whose latencies are the server's and
	// not the queue a closed loop builds at saturation. Script is unused.
	Rate    float64
	RateBin string
	// Windows, with a Rate, also splits the latencies by the parity of
	// the wall-clock window of this width each request was due in
	// (rateload -windows): WrkReport.Windows.
	Windows time.Duration
}

// RunWrk runs wrk to completion and parses its report.
func RunWrk(ctx context.Context, s WrkSpec) (WrkReport, []byte, error) {
	if s.Rate > 0 {
		return runOpenLoop(ctx, s)
	}
	secs := int(s.Duration.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	args := []string{
		"wrk", "-t", strconv.Itoa(max(1, s.Threads)), "-c", strconv.Itoa(s.Conns),
		"-d", strconv.Itoa(secs) + "s", "--timeout", "10s", "-s", s.Script, s.URL,
	}
	if s.CPUs != "" {
		args = append([]string{"taskset", "-c", s.CPUs}, args...)
	}
	// wrk stops by itself after -d; the context only guards against a hang.
	runCtx, cancel := context.WithTimeout(ctx, s.Duration+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, args[0], args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return WrkReport{}, out, fmt.Errorf("wrk: %w: %s", err, lastLines(out, 5))
	}
	r, err := ParseWrkOutput(out)
	return r, out, err
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
