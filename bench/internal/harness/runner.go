package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// Config is the harness's whole input; cmd/e2e fills it from flags.
type Config struct {
	Root       string        // repository root (bin/sluice lives under it)
	OutDir     string        // where the JSON and markdown reports go
	Rounds     int           // A B A B rounds per cell; medians over them. Default 3.
	Duration   time.Duration // one measured wrk run. Default 5s.
	Warmup     time.Duration // unmeasured wrk run per peer and cell. Default 1s.
	Scenarios  []string      // plain, gateway, auth, redislimit, cache, aggregate, obs, scrape, routes, idle
	Proxies    []string      // sluice, nginx, haproxy, goproxy (plain and idle)
	Conns      []int         // plain: client connections per cell. Default 64, 256.
	Bodies     []string      // plain: 13, 1k, 64k
	ProxyCPUs  string        // taskset list for the proxy. Default "0".
	LoadCPUs   string        // taskset list for wrk and the upstream. Default "1".
	WrkThreads int           // default 1
	IdleConns  int           // idle scenario: connections held. Default 10000.
	Routes     int           // routes scenario: route count. Default 1000.
	Strace     bool          // also count syscalls per request (plain, 13 B, first conns value; the checked cells)
	StraceFor  time.Duration // the traced wrk run. Default 3s.
	SluiceBin  string
	// SluiceUnavailable, when set, skips every Sluice peer with this reason
	// (bench/run.sh sets it when `make build` fails, so a stale binary is
	// not measured).
	SluiceUnavailable string
	// SluiceOneLiner runs the plain and idle scenarios with `sluice proxy`
	// flags instead of a bench config; the pool then keeps Sluice's default
	// max_requests (1000), which caps upstream reuse at 99.9 %.
	SluiceOneLiner bool
	GoproxyBin     string
	IdleBin        string
	PollerBin      string // bench/cmd/poller: the scrape scenario's scraper and control
	ScrapeRoutes   int    // scrape: routes, catch-all included, × 5 codes. Default 10000, Sluice's route-series cap
	// ScrapeRate, when above 0, sends the scrape scenario's traffic as an
	// open loop at this many requests a second (RateloadBin) instead of
	// wrk's saturating closed loop: whether a scrape moves the p99 of
	// traffic the gateway has the CPU for, rather than of a queue.
	ScrapeRate  float64
	RateloadBin string    // bench/cmd/rateload
	KeepTmp     bool      // keep the temp dir (configs, logs) after the run
	Log         io.Writer // progress; os.Stderr when nil
}

// Runner runs the scenarios of one Config. Not safe for concurrent use.
type Runner struct {
	cfg      Config
	dir      string
	sup      *Supervisor
	hz       uint64
	upstream *Proc
	upPort   int
	log      io.Writer
	skipped  map[string]string // peer name -> why it was skipped
	warnings []string
	noFile   int // RLIMIT_NOFILE soft limit after raiseNoFile
	// redis is the redis-server of the redislimit scenario (nil outside
	// it); measure reads its CPU beside the proxy's.
	redis     *Proc
	redisPort int
}

// NewRunner creates the temp dir and the supervisor. Call Close at the end.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return nil, err
	}
	// nginx workers run as nobody: they must read the body files.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, dir: dir, sup: NewSupervisor(dir), hz: ClockTicks(), log: cfg.Log,
		skipped: map[string]string{}, noFile: raiseNoFile()}, nil
}

// raiseNoFile lifts RLIMIT_NOFILE for the harness and, by inheritance, for
// every peer (10,000 idle connections need 20,000+ descriptors in a proxy).
// Calling Setrlimit also stops os/exec from restoring the original limit in
// children. It returns the soft limit in force afterwards. In a container
// without CAP_SYS_RESOURCE the hard limit cannot be raised (20,000 on the
// bench machine), which caps HAProxy below 10,000 connections.
func raiseNoFile() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	want := uint64(262144)
	if lim.Max < want {
		// Root may raise the hard limit up to fs.nr_open.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return int(want)
		}
		want = lim.Max
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: lim.Max}); err != nil {
		return int(lim.Cur)
	}
	return int(want)
}

// Dir is the run's temp dir (configs and logs of every peer).
func (r *Runner) Dir() string { return r.dir }

// Close stops every process and removes the temp dir unless KeepTmp.
func (r *Runner) Close() {
	r.sup.StopAll()
	if !r.cfg.KeepTmp {
		_ = os.RemoveAll(r.dir)
	}
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func (r *Runner) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.warnings = append(r.warnings, msg)
	r.logf("WARNING: %s", msg)
}

// Body sizes of the plain scenario and the upstream path serving each.
var (
	bodyPaths  = map[string]string{"13": "/", "1k": "/files/1k", "64k": "/files/64k"}
	bodyLabels = map[string]string{"13": "13 B", "1k": "1 KiB", "64k": "64 KiB"}
)

// StartUpstream writes the body files and starts the origin nginx on the
// load CPUs.
func (r *Runner) StartUpstream(ctx context.Context) error {
	www := filepath.Join(r.dir, "www", "files")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return err
	}
	for name, size := range map[string]int{"1k": 1 << 10, "64k": 64 << 10} {
		b := make([]byte, size)
		for i := range b {
			b[i] = 'a' + byte(i%26)
		}
		if err := os.WriteFile(filepath.Join(www, name), b, 0o644); err != nil {
			return err
		}
	}
	if err := writeCacheItem(filepath.Join(r.dir, "www", "cache")); err != nil {
		return err
	}
	port, err := freeport.Port()
	if err != nil {
		return err
	}
	p, err := r.startNginx("upstream", "upstream.nginx.conf.tmpl", TemplateData{Port: port}, r.cfg.LoadCPUs)
	if err != nil {
		return err
	}
	r.upstream, r.upPort = p, port
	if err := waitReady(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/nginx_status", port), nil, 15*time.Second); err != nil {
		return fmt.Errorf("upstream nginx: %w: %s", err, p.LogTail(400))
	}
	r.logf("upstream nginx on 127.0.0.1:%d (pid %d, cpus %s)", port, p.PID(), r.cfg.LoadCPUs)
	return nil
}

// UpstreamAccepts reads the origin's stub_status "accepts" counter; the
// query itself is one accepted connection.
func (r *Runner) UpstreamAccepts() (int64, error) {
	st, err := r.UpstreamStatus()
	return st.Accepts, err
}

// UpstreamStatus reads the origin's stub_status counters; the query itself
// is one accepted connection and one request.
func (r *Runner) UpstreamStatus() (StubStatus, error) {
	body, _, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/nginx_status", r.upPort), nil)
	if err != nil {
		return StubStatus{}, err
	}
	return ParseStubStatus(body)
}

// startNginx renders tmpl into the temp dir and starts nginx with it.
func (r *Runner) startNginx(name, tmpl string, d TemplateData, cpus string) (*Proc, error) {
	d.Dir, d.Name, d.UpstreamPort = r.dir, name, r.upPort
	if d.NoFile == 0 {
		d.NoFile = r.noFile
	}
	if err := os.MkdirAll(filepath.Join(r.dir, name+"-tmp"), 0o755); err != nil {
		return nil, err
	}
	conf, err := RenderFile(tmpl, name+".nginx.conf", d)
	if err != nil {
		return nil, err
	}
	return r.sup.Start(StartOpts{
		Name: name,
		CPUs: cpus,
		Argv: []string{"nginx", "-p", r.dir, "-c", conf, "-e", filepath.Join(r.dir, name+".startup.log")},
	})
}
