// Command sluice is the Sluice gateway.
//
//	sluice -c sluice.yaml                 run with a config file
//	sluice validate sluice.yaml           check a config file and exit (or -c FILE)
//	sluice proxy --listen 127.0.0.1:8080 --to 127.0.0.1:9000 [--workers N]
//	                                      a one-line reverse proxy
//	sluice apply -f new.yaml              replace a running gateway's config
//	sluice diff -f new.yaml               what apply would change
//
// SIGHUP reloads the config file (a bad file is refused and the running
// config stays); SIGTERM and SIGINT drain in-flight requests and exit 0;
// SIGUSR2 starts the executable again on the same listening socket and,
// once the new process serves, drains and exits (upgrade.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-gw/sluice/admin"
	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/discovery"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/fleet"
	"github.com/sluice-gw/sluice/live"
	"github.com/sluice-gw/sluice/policies"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is main without the exit, for tests. It returns the exit status.
func run(args []string, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(args, stderr)
	case "validate":
		return cmdValidate(args, stderr)
	case "proxy":
		return cmdProxy(args, stderr)
	case "apply":
		return cmdApply(args, os.Stdout, stderr)
	case "diff":
		return cmdDiff(args, os.Stdout, stderr)
	case "help":
		usage(stderr)
		return 0
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  sluice [run] -c FILE [-workers N] [-pool-max-idle N] [-pool-idle-timeout D] [-log-level L]
               [-log-format F] [-status ADDR] [-cpuprofile FILE]
  sluice validate [-c] FILE          check FILE (default sluice.yaml) and exit
  sluice proxy --listen ADDR --to ADDR[,ADDR...] [the run flags but -c]
  sluice apply -f FILE [-admin ADDR] [-token-file F] [-dry-run]
                                      replace a running gateway's config (Admin API)
  sluice apply -f FILE -consul ADDR [-prefix P] [-dry-run]
                                      write a config into a fleet's Consul KV
  sluice diff -f FILE [-admin ADDR] [-token-file F]
                                      what apply would change
  sluice help                         this text
`)
}

// overrides are the flags that change a loaded config.
type overrides struct {
	cpuProfile      string
	statusAddr      string
	workers         int
	poolMaxIdle     int
	poolIdleTimeout time.Duration
	logLevel        string
	logFormat       string
}

func (o *overrides) register(fs *flag.FlagSet) {
	fs.IntVar(&o.workers, "workers", 0, "event loops (0 = config, else GOMAXPROCS)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (for benchmarks)")
	fs.StringVar(&o.statusAddr, "status", "", "the admin listener's address ("+adminServes+"): shorthand for admin.listen")
	fs.IntVar(&o.poolMaxIdle, "pool-max-idle", 0, "idle upstream connections kept per worker per target (0 = config)")
	fs.DurationVar(&o.poolIdleTimeout, "pool-idle-timeout", 0, "close idle upstream connections after this (0 = config)")
	fs.StringVar(&o.logLevel, "log-level", "", "debug|info|warn|error (empty = config)")
	fs.StringVar(&o.logFormat, "log-format", "", "the event log's format, text|json (empty = config)")
}

func (o *overrides) apply(cfg *config.Config) {
	if o.workers > 0 {
		cfg.Workers = o.workers
	}
	for i := range cfg.Upstreams {
		if o.poolMaxIdle > 0 {
			cfg.Upstreams[i].Pool.MaxIdle = o.poolMaxIdle
		}
		if o.poolIdleTimeout > 0 {
			cfg.Upstreams[i].Pool.IdleTimeout = config.Duration(o.poolIdleTimeout)
		}
	}
	if o.logLevel != "" {
		cfg.LogLevel = o.logLevel
	}
	if o.logFormat != "" {
		cfg.LogFormat = o.logFormat
	}
	if o.statusAddr != "" {
		cfg.Admin.Listen = o.statusAddr
	}
}

func cmdValidate(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	byFlag := fs.String("c", "sluice.yaml", "config file (or give it as the argument: sluice validate FILE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	file, ok := validateFile(fs, *byFlag, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(file)
	if err == nil {
		c := engine.NewCompiler(policies.Build)
		_, err = c.Compile(cfg)
		c.Close() // stops the health probes a compile starts
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %s: invalid:\n%v\n", file, err)
		return 1
	}
	if cfg.Fleet() {
		fmt.Fprintf(stderr, "sluice: %s: ok (a fleet node's own sections; the rest is in Consul under %s/: sluice apply -consul checks that)\n", file, cfg.ConfigSource.Prefix)
		return 0
	}
	fmt.Fprintf(stderr, "sluice: %s: ok (%d upstreams, %d routes)\n", file, len(cfg.Upstreams), cfg.Routes.Len())
	return 0
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "sluice.yaml", "config file")
	var ov overrides
	ov.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !refuseLeftover("run", fs, 0, "run takes no arguments, the config file is -c FILE", stderr) {
		return 2
	}
	load := func(reloading bool) (*config.Config, error) {
		data, err := os.ReadFile(*file)
		if err != nil {
			return nil, err
		}
		if reloading && emptyConfig(data) {
			return nil, fmt.Errorf("%s: the file is empty: refused, a reload would remove every route (write the file whole: to a temporary file renamed over it)", *file)
		}
		cfg, err := config.Parse(data, *file)
		if err != nil {
			return nil, err
		}
		ov.apply(cfg)
		return cfg, cfg.Validate()
	}
	cfg, err := load(false)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %s:\n%v\n", *file, err)
		return 1
	}
	defer ov.profile(stderr)()
	return serve(cfg, func() (*config.Config, error) { return load(true) }, *file, stderr)
}

func cmdProxy(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	to := fs.String("to", "", "upstream address host:port (required; repeat with commas for several)")
	var ov overrides
	ov.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !refuseLeftover("proxy", fs, 0, "proxy takes no arguments, the upstreams are --to ADDR[,ADDR...]", stderr) {
		return 2
	}
	if *to == "" {
		fmt.Fprintln(stderr, "sluice proxy: --to is required")
		return 2
	}
	cfg := &config.Config{Listen: *listen}
	up := config.Upstream{Name: "backend"}
	for _, a := range strings.Split(*to, ",") {
		up.Targets = append(up.Targets, config.Target{Addr: strings.TrimSpace(a)})
	}
	cfg.Upstreams = []config.Upstream{up}
	cfg.Routes = config.Routes(&config.Route{Name: "all", Upstream: "backend"})
	ov.apply(cfg)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "sluice proxy: %v\n", err)
		return 2
	}
	defer ov.profile(stderr)()
	return serve(cfg, nil, "", stderr)
}

// profile starts the CPU profile if asked and returns its stop.
func (o *overrides) profile(stderr io.Writer) func() {
	if o.cpuProfile == "" {
		return func() {}
	}
	f, err := os.Create(o.cpuProfile)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice: cpuprofile: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// serve runs the gateway until SIGTERM/SIGINT; reload (nil for none) is
// called on SIGHUP. file, when not "", is the config file Admin API
// changes are written back to.
func serve(cfg *config.Config, reload func() (*config.Config, error), file string, stderr io.Writer) int {
	logger := newEventLog(cfg, stderr) // log/slog (logs.go)
	compiler := engine.NewCompiler(policies.Build)
	compiler.Logf = logger.Printf // the Redis client's connection changes
	defer compiler.Close()
	// A fleet node's file holds only what is the node's: the rest comes
	// from Consul KV and follows it (package fleet).
	var fleetSrc *fleet.Source
	if cfg.Fleet() {
		var err error
		if fleetSrc, err = fleet.New(cfg, logger.Printf); err == nil {
			cfg, err = fleetSrc.Load()
		}
		if err != nil {
			logger.Print(err)
			return 1
		}
		defer fleetSrc.Close()
		reload, file = nil, "" // the file is the node's; changes go to Consul
	}
	// Discovery (Consul) feeds the compiler the last known targets and
	// updates the groups it made; see package discovery.
	disc := discovery.New(discovery.Options{Logf: logger.Printf})
	defer disc.Close()
	if err := disc.Configure(cfg); err != nil {
		logger.Print(err)
		return 1
	}
	snap, err := compiler.Compile(disc.Prepare(cfg))
	if err != nil {
		logger.Printf("config: %v", err)
		return 1
	}
	disc.Bind(compiler.Upstreams())
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0) // one loop per core, decided before the spare P below
	}
	reserveSpareP(workers)
	opts := engine.Options{Listen: cfg.Listen, Workers: workers, Logf: logger.Printf}
	rl, err := newRequestLogger(cfg, workers, stderr)
	if err != nil {
		logger.Print(err)
		return 1
	}
	if rl != nil {
		opts.AccessLog = rl.log
		defer rl.close() // after the engine stopped (deferred below)
	}
	// Signals are caught before the socket accepts: a SIGUSR2 or SIGTERM
	// sent as soon as the port answers must not kill the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	inherited, err := inheritedListener()
	if err != nil {
		logger.Printf("upgrade: %v", err)
		return 1
	}
	opts.Listener = inherited
	srv, err := engine.NewServer(opts, snap)
	if err != nil {
		logger.Print(err)
		return 1
	}
	if err := srv.Listen(); err != nil {
		logger.Printf("cannot listen on %s: %v", cfg.Listen, bindError(err))
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		logger.Printf("cannot serve %s: %v", cfg.Listen, err)
		return 1
	}
	drained := false
	defer func() {
		if !drained {
			// A later start-up step failed: the connections accepted so far
			// (an upgrade's shared socket has some at once) are served, not
			// dropped.
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.DrainTimeout))
			_ = srv.Shutdown(ctx)
			cancel()
			<-served
		}
	}()
	how := ""
	if inherited != nil {
		how = ", socket inherited"
	}
	logger.Printf("listening on %s (%d upstreams, %d routes%s; pid %d)", srv.Addr(), len(cfg.Upstreams), cfg.Routes.Len(), how, os.Getpid())
	var adm *admin.Server
	store := live.New(live.Options{
		Server: srv, Compiler: compiler, Logf: logger.Printf,
		File: persistFile(cfg, file),
		Prepare: func(next *config.Config) (*config.Config, error) {
			if err := disc.Configure(next); err != nil {
				return nil, err
			}
			return disc.Prepare(next), nil
		},
		Rollback: func(running *config.Config) { _ = disc.Configure(running) },
		Committed: func(next *config.Config) {
			disc.Bind(compiler.Upstreams())
			adm.ReloadDone(nil)
			setEventLog(next) // the event log follows log_level and log_format
		},
	}, cfg, snap)
	if fleetSrc != nil {
		store.SetWriteThrough(fleetSrc.WriteThrough)
		fleetSrc.Watch(store)
	}
	defer func() {
		if err := store.Close(); err != nil {
			logger.Printf("config: the last change is not in %s: %v", file, err)
		}
	}()
	adm, err = startAdmin(cfg, srv, rl, store, statusExtra(disc, fleetSrc), newConsulCollector(disc, fleetSrc))
	if err != nil {
		logger.Printf("admin listener: %v", err)
		return 1
	}
	if adm != nil {
		defer adm.Close()
		logger.Printf("admin on http://%s (%s)", adm.Addr(), adminServes)
	}

	notifyReady() // after every listener: a parent waiting to hand over drains now
	up := newUpgrader(stderr, logger)

	var drainWhy string
	upgraded := false
	for drainWhy == "" {
		select {
		case end := <-up.ready:
			if end.err != nil {
				store.Release() // this process goes on serving, changes included; done says so
			}
			up.done(end)
			if end.err == nil {
				upgraded = true
				drainWhy = fmt.Sprintf("upgrade: process %d serves", end.pid)
				if adm != nil {
					adm.Close() // the new process serves the admin socket now
				}
			}
		case err := <-served:
			drained = true // the engine stopped by itself
			if err != nil && !errors.Is(err, context.Canceled) {
				logger.Printf("engine stopped: %v", err)
				return 1
			}
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGUSR2 {
				// The new process reads the file: every change accepted
				// so far must be in it, not only those the writer's
				// pace (a write a second at most) has put there.
				// Changes made from here on would reach this process only:
				// they are refused (503) until the upgrade fails or the
				// new process takes the admin socket.
				store.Hold()
				if err := store.Flush(); err != nil {
					store.Release()
					logger.Printf("SIGUSR2: upgrade refused: the last change is not in %s (%v); the new process would start without it", file, err)
					continue
				}
				if !up.start(srv, adm) {
					store.Release()
				}
				continue
			}
			if sig == syscall.SIGHUP {
				if reload == nil {
					logger.Print("SIGHUP: no config file to reload (a fleet node follows Consul; its own sections take effect at the next start)")
					continue
				}
				_, err := store.Apply(live.Change{Who: "SIGHUP", What: "reload of " + file, Origin: live.OriginFile,
					Edit: func(*config.Config) (*config.Config, error) { return reload() }})
				if err != nil {
					adm.ReloadDone(err)
					logger.Printf("SIGHUP: config refused, the running config stays:\n%v", err)
				}
				continue
			}
			drainWhy = sig.String()
		}
	}
	drain := time.Duration(cfg.DrainTimeout)
	logger.Printf("%s: draining (up to %v, %d requests in flight)", drainWhy, drain, srv.InFlight())
	if !upgraded {
		up.abort()
		sdNotify("STOPPING=1") // after an upgrade the service goes on, in the new process
	}
	drained = true
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	err = srv.Shutdown(ctx)
	cancel()
	<-served
	if err != nil {
		logger.Printf("drain: %v", err)
	}
	srv.ReleasePolicies() // leases back to Redis before its client closes
	logger.Print("stopped")
	return 0
}

// emptyConfig says whether a config file holds nothing but comments: a
// reload of it is refused, as a writer caught between truncating the file
// and writing it (or an emptied file) would leave the gateway without a
// route. Writing the file whole, to a temporary file renamed over it,
// also avoids reloading half of it.
func emptyConfig(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(line); t != "" && t[0] != '#' && t != "---" {
			return false
		}
	}
	return true
}

// bindError is the system's reason of a failed listen ("bind: address
// already in use"), without the address the caller already names.
func bindError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// spareProcs is how many Ps the binary keeps beside the event loops.
//
// One spare P keeps sysmon off the loops: a loop blocks in epoll_wait as a
// syscall, and when no P is idle the runtime's sysmon takes the loop's P
// away after 20µs and keeps waking every 20µs, which cost about 1.5µs of
// CPU per proxied request with one worker pinned to one core (where
// GOMAXPROCS defaults to 1).
//
// Two more keep the control plane off the loops' Ps. A busy loop yields
// its P every 5 ms (engine: yieldEvery), and whatever goroutine waits for a
// P then takes it, for up to the scheduler's 10 ms slice: the niceness of
// the control threads (the Admin API's changes, the config write-back, the
// scrape) does not count there, since Go has no priorities. With one spare
// P, two busy background goroutines (the write-back's first encoding of
// 10,000 routes and a GC worker, say) were enough for one of them to wait,
// and take the loop's P at its next yield. A runtime trace of a gateway
// starting with 10,000 routes under wrk, one worker pinned to one core,
// two alternated runs each: another goroutine ran on the loop's P for
// 63 and 150 ms of 6 s with GOMAXPROCS=2, 18 and 5 ms with 4 (docs/
// benchmarks.md, "The loop's P"). Four Ps for one loop also make the GC run
// one dedicated mark worker on a spare P instead of fractional workers that
// take a quarter of every P, the loop's included.
const spareProcs = 3

// reserveSpareP raises GOMAXPROCS to workers + spareProcs. An explicit
// GOMAXPROCS in the environment is respected.
func reserveSpareP(workers int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if runtime.GOMAXPROCS(0) < workers+spareProcs {
		runtime.GOMAXPROCS(workers + spareProcs)
	}
}
