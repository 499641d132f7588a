package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Run is one measured wrk run against one peer.
type Run struct {
	Round           int     `json:"round"`
	Requests        int64   `json:"requests"`
	RPS             float64 `json:"rps"`
	Errors          int64   `json:"errors"`          // every wrk error kind, non-2xx/3xx included
	ErrStatus       int64   `json:"err_status"`      // responses with status >= 400
	P50Micros       int64   `json:"p50_us"`          // latency percentiles as wrk measured them
	P99Micros       int64   `json:"p99_us"`          //
	P999Micros      int64   `json:"p999_us"`         //
	UserPerReq      float64 `json:"user_us_req"`     // proxy user CPU µs per request
	SysPerReq       float64 `json:"sys_us_req"`      // proxy system CPU µs per request
	CPUPerReq       float64 `json:"cpu_us_req"`      // user + sys
	ProxyCPUPercent float64 `json:"proxy_cpu_pct"`   // proxy user+sys in % of one core
	ProxyCoreBusy   float64 `json:"proxy_core_busy"` // % busy of the proxy's CPUs, whoever used them
	LoadCoreBusy    float64 `json:"load_core_busy"`  // % busy of the wrk+upstream CPUs
	StealPercent    float64 `json:"steal_pct"`       // hypervisor steal on the proxy's CPUs
	RSSBytes        uint64  `json:"rss_bytes"`       // proxy tree RSS after the run
	UpstreamOpened  int64   `json:"upstream_opened"` // upstream connections accepted during the run
	AllocsPerReq    float64 `json:"allocs_req"`      // -1 when the peer exposes no malloc counter
	// RedisPerReq is the redis-server's user+sys CPU µs per request, when
	// the scenario runs one (redislimit); 0 otherwise.
	RedisPerReq float64 `json:"redis_us_req,omitempty"`
	// UpstreamRequests is what the upstream served during the run (its
	// stub_status requests, minus the status requests): 0 for a cache
	// that hits, 2 per request for a 2-call aggregation.
	UpstreamRequests int64 `json:"upstream_requests"`
	// Beside is what the peer's beside client (the scrape scenario's
	// scraper or control) fetched during the run; nil without one.
	Beside *BesideRun `json:"beside,omitempty"`
	// Windows is the open loop's latencies by window parity, when the
	// cell asked for them (the scrape cell's windowed peer reads them).
	Windows *WindowsReport `json:"windows,omitempty"`
}

// measure runs wrk once against peer and reads the proxy's CPU, RSS, the
// upstream's accept counter and, when exposed, the proxy's malloc counter
// around it.
func (r *Runner) measure(ctx context.Context, peer *Peer, spec WrkSpec, round int) (Run, error) {
	if exited, err := peer.Proc.Exited(); exited {
		return Run{}, fmt.Errorf("%s: %w", peer.Name, err)
	}
	var stopBeside func() (*BesideRun, error)
	if peer.Beside != nil {
		var err error
		if stopBeside, err = r.startBeside(peer.Beside, round); err != nil {
			return Run{}, err
		}
		// Stopped on every return; the normal path stops it earlier,
		// right after wrk, and this call is then a no-op.
		defer func() {
			if stopBeside != nil {
				_, _ = stopBeside()
			}
		}()
	}
	up0, err := r.UpstreamStatus()
	if err != nil {
		return Run{}, err
	}
	mallocs0, mallocsOK := peer.readMallocs()
	u0, err := ReadTree(peer.Proc.PID())
	if err != nil {
		return Run{}, err
	}
	var redis0 TreeUsage
	if r.redis != nil {
		if redis0, err = ReadTree(r.redis.PID()); err != nil {
			return Run{}, fmt.Errorf("redis-server: %w", err)
		}
	}
	cpu0 := readCPUTimes()
	rep, _, err := RunWrk(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return Run{}, ctx.Err() // interrupted, not a wrk failure
		}
		return Run{}, fmt.Errorf("%s: %w", peer.Name, err)
	}
	cpu1 := readCPUTimes()
	u1, err := ReadTree(peer.Proc.PID())
	if err != nil {
		return Run{}, fmt.Errorf("%s died during the run: %w", peer.Name, err)
	}
	var beside *BesideRun
	if stopBeside != nil {
		beside, err = stopBeside()
		stopBeside = nil
		if err != nil {
			return Run{}, err
		}
	}
	var redisCPU Delta
	if r.redis != nil {
		redis1, err := ReadTree(r.redis.PID())
		if err != nil {
			return Run{}, fmt.Errorf("redis-server died during the run: %w", err)
		}
		redisCPU = Sub(redis0, redis1, r.hz)
	}
	mallocs1, mallocs1OK := peer.readMallocs()
	up1, err := r.UpstreamStatus()
	if err != nil {
		return Run{}, err
	}
	d := Sub(u0, u1, r.hz)
	run := Run{
		Round: round, Requests: rep.Requests, RPS: rep.RPS(), Errors: rep.Errors(), ErrStatus: rep.ErrStatus,
		P50Micros: rep.LatP50Micros, P99Micros: rep.LatP99Micros, P999Micros: rep.LatP999Micros,
		RSSBytes: d.RSSBytes, UpstreamOpened: up1.Accepts - up0.Accepts - 1, AllocsPerReq: -1,
		// The first status request is counted in its own reading.
		UpstreamRequests: up1.Requests - up0.Requests - 1,
		Beside:           beside,
		Windows:          rep.Windows,
	}
	if rep.Requests > 0 {
		n := float64(rep.Requests)
		run.UserPerReq, run.SysPerReq = d.UserMicros/n, d.SysMicros/n
		run.CPUPerReq = run.UserPerReq + run.SysPerReq
		run.RedisPerReq = (redisCPU.UserMicros + redisCPU.SysMicros) / n
		if mallocsOK && mallocs1OK && mallocs1 >= mallocs0 {
			// The expvar request itself allocates a little; over 10^5+
			// requests it is noise, and it errs against the peer.
			run.AllocsPerReq = float64(mallocs1-mallocs0) / n
		}
	}
	run.ProxyCoreBusy, run.StealPercent = busyPercent(cpu0, cpu1, ParseCPUList(r.cfg.ProxyCPUs))
	run.LoadCoreBusy, _ = busyPercent(cpu0, cpu1, ParseCPUList(r.cfg.LoadCPUs))
	if rep.DurationMicros > 0 {
		run.ProxyCPUPercent = 100 * (d.UserMicros + d.SysMicros) / float64(rep.DurationMicros)
	}
	return run, nil
}

// readMallocs reads the peer's malloc counter: expvar's memstats.Mallocs,
// else Prometheus's go_memstats_mallocs_total. A scrape allocates too (a few
// thousand objects for Sluice's /metrics); over 10^5+ requests that is
// a few hundredths per request, against the peer.
func (p *Peer) readMallocs() (uint64, bool) {
	if p.VarsURL == "" && p.MetricsURL != "" {
		body, _, err := httpGet(p.MetricsURL, nil)
		if err != nil {
			return 0, false
		}
		return ParsePromCounter(body, "go_memstats_mallocs_total")
	}
	return readMallocs(p.VarsURL)
}

// ParsePromCounter finds an unlabelled sample of name in a Prometheus text
// exposition.
func ParsePromCounter(body []byte, name string) (uint64, bool) {
	for _, line := range strings.Split(string(body), "\n") {
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 {
			return 0, false
		}
		return uint64(f), true
	}
	return 0, false
}

// readMallocs reads memstats.Mallocs from an expvar /debug/vars URL.
func readMallocs(url string) (uint64, bool) {
	if url == "" {
		return 0, false
	}
	body, _, err := httpGet(url, nil)
	if err != nil {
		return 0, false
	}
	var vars struct {
		Memstats struct{ Mallocs uint64 } `json:"memstats"`
	}
	if err := json.Unmarshal(body, &vars); err != nil {
		return 0, false
	}
	return vars.Memstats.Mallocs, true
}

// StraceRun is one `strace -c` run against a peer under wrk load.
type StraceRun struct {
	Peer       string   `json:"peer"`
	Requests   int64    `json:"requests"`
	Calls      uint64   `json:"calls"`
	Errors     uint64   `json:"errors"`
	PerRequest float64  `json:"syscalls_req"`
	Top        []string `json:"top"`
}

// straceRun attaches `strace -c -f` to every process of the peer's tree
// (with -f, strace attaches every thread of each and follows new ones),
// runs wrk for StraceFor, detaches and divides. strace slows the proxy
// a lot, so only the count per request means anything, not the throughput.
func (r *Runner) straceRun(ctx context.Context, peer *Peer, spec WrkSpec) (StraceRun, error) {
	u, err := ReadTree(peer.Proc.PID())
	if err != nil {
		return StraceRun{}, err
	}
	out := filepath.Join(r.dir, fmt.Sprintf("strace-%s-%d.txt", peer.Name, peer.Port))
	args := []string{"-c", "-f", "-o", out}
	for _, pid := range u.PIDs {
		args = append(args, "-p", strconv.Itoa(pid))
	}
	cmd := exec.Command("strace", args...)
	if logFile, err := os.Create(out + ".log"); err == nil {
		defer logFile.Close()
		cmd.Stderr = logFile // attach/detach chatter
	}
	if err := cmd.Start(); err != nil {
		return StraceRun{}, err
	}
	time.Sleep(time.Second) // let strace attach to every thread
	spec.Duration = r.cfg.StraceFor
	rep, _, werr := RunWrk(ctx, spec)
	_ = cmd.Process.Signal(syscall.SIGINT)
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	select {
	case <-waitDone:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-waitDone
	}
	if werr != nil {
		return StraceRun{}, werr
	}
	text, err := os.ReadFile(out)
	if err != nil {
		return StraceRun{}, err
	}
	sum, err := ParseStraceSummary(string(text))
	if err != nil {
		return StraceRun{}, err
	}
	s := StraceRun{Peer: peer.Name, Requests: rep.Requests, Calls: sum.Calls, Errors: sum.Errors, Top: sum.Top(6)}
	if rep.Requests > 0 {
		s.PerRequest = float64(sum.Calls) / float64(rep.Requests)
	}
	return s, nil
}
