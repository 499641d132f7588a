package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Cell is one table block: one scenario variant, every peer, medians.
type Cell struct {
	Scenario  string        `json:"scenario"`
	Name      string        `json:"name"`
	Conns     int           `json:"conns"`
	Body      string        `json:"body"`
	Reference string        `json:"reference"` // the peer ratios are taken against
	Peers     []*PeerResult `json:"peers"`
	Strace    []StraceRun   `json:"strace,omitempty"`
	// Scrape is the scrape scenario's set-up: route series, scrape sizes,
	// idle scrape times. Nil in other cells.
	Scrape *ScrapeCheck `json:"scrape,omitempty"`
}

// Peer returns the result of the named peer, nil if it did not run.
func (c *Cell) Peer(name string) *PeerResult {
	for _, p := range c.Peers {
		if p.Peer == name {
			return p
		}
	}
	return nil
}

// IdleResult is the idle keep-alive scenario for one peer.
type IdleResult struct {
	Peer           string  `json:"peer"`
	Held           int     `json:"held"`
	Failed         int     `json:"failed"`
	StillOpen      int     `json:"still_open"` // held connections the proxy had not closed at the end
	RSSBefore      uint64  `json:"rss_before"`
	RSSAfter       uint64  `json:"rss_after"`
	BytesPerConn   float64 `json:"bytes_per_conn"`
	UpstreamOpened int64   `json:"upstream_opened"`
}

// Run executes every configured scenario and returns the report.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	rep := &Report{Started: time.Now().UTC(), Machine: ReadMachine(), Config: r.cfg.summary(), TempDir: r.dir}
	if err := r.StartUpstream(ctx); err != nil {
		return rep, err
	}
	for _, sc := range r.cfg.Scenarios {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		r.logf("== scenario %s", sc)
		var err error
		switch sc {
		case "plain":
			var cells []*Cell
			cells, err = r.runPlain(ctx)
			rep.Cells = append(rep.Cells, cells...)
		case "gateway":
			var cell *Cell
			cell, err = r.runGateway(ctx)
			if cell != nil {
				rep.Cells = append(rep.Cells, cell)
			}
		case "routes":
			var cell *Cell
			cell, err = r.runRoutes(ctx)
			if cell != nil {
				rep.Cells = append(rep.Cells, cell)
			}
		case "auth", "redislimit", "cache", "aggregate", "obs", "scrape":
			var cell *Cell
			cell, err = map[string]func(context.Context) (*Cell, error){
				"auth": r.runAuth, "redislimit": r.runRedisLimit, "cache": r.runCache, "aggregate": r.runAggregate,
				"obs": r.runObs, "scrape": r.runScrape,
			}[sc](ctx)
			if cell != nil {
				rep.Cells = append(rep.Cells, cell)
			}
		case "idle":
			rep.Idle, err = r.runIdle(ctx)
		default:
			err = fmt.Errorf("%w: %q", ErrUnknownScenario, sc)
		}
		if err != nil {
			rep.Finished = time.Now().UTC()
			rep.Skipped, rep.Warnings = r.skipped, r.warnings
			return rep, fmt.Errorf("scenario %s: %w", sc, err)
		}
	}
	rep.Finished = time.Now().UTC()
	rep.Skipped, rep.Warnings = r.skipped, r.warnings
	rep.Machine.LoadAvgEnd = readLoadAvg()
	return rep, nil
}

func (r *Runner) startPeers(ctx context.Context, kinds []string, checkPath string, checkHeader map[string]string) ([]*Peer, error) {
	var peers []*Peer
	for _, k := range kinds {
		p, err := r.startPeer(ctx, k, checkPath, checkHeader)
		if err != nil {
			for _, q := range peers {
				r.stopPeer(q)
			}
			return nil, err
		}
		if p != nil {
			peers = append(peers, p)
		}
	}
	return peers, nil
}

func (r *Runner) stopPeers(peers []*Peer) {
	for _, p := range peers {
		r.stopPeer(p)
	}
}

// plainKinds maps -proxies names to the plain-proxy peer kinds.
func (r *Runner) plainKinds() ([]string, error) {
	var kinds []string
	for _, name := range r.cfg.Proxies {
		switch name {
		case "sluice", "nginx", "haproxy", "goproxy":
			kinds = append(kinds, name)
		default:
			return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, name)
		}
	}
	return kinds, nil
}

func (r *Runner) runPlain(ctx context.Context) ([]*Cell, error) {
	kinds, err := r.plainKinds()
	if err != nil {
		return nil, err
	}
	peers, err := r.startPeers(ctx, kinds, "/", nil)
	if err != nil {
		return nil, err
	}
	defer r.stopPeers(peers)
	script, err := WrkScript(r.dir, "plain.lua", []string{"/"}, nil)
	if err != nil {
		return nil, err
	}
	var cells []*Cell
	for _, body := range r.cfg.Bodies {
		path, ok := bodyPaths[body]
		if !ok {
			return cells, fmt.Errorf("unknown body size %q (13, 1k, 64k)", body)
		}
		for _, conns := range r.cfg.Conns {
			cell := &Cell{Scenario: "plain", Name: fmt.Sprintf("%s body, %d conns", bodyLabels[body], conns), Conns: conns, Body: body, Reference: "nginx"}
			spec := WrkSpec{Conns: conns, Threads: r.cfg.WrkThreads, Duration: r.cfg.Duration, Script: script, CPUs: r.cfg.LoadCPUs}
			peers, err = r.runCell(ctx, cell, peers, path, spec)
			if err != nil {
				return cells, err
			}
			if r.cfg.Strace && len(cells) == 0 {
				r.straceCell(ctx, cell, peers, path, spec)
			}
			cells = append(cells, cell)
		}
	}
	return cells, nil
}

var gatewayKeys = []string{"key-alpha", "key-bravo", "key-charlie", "key-delta", "key-echo", "key-foxtrot", "key-golf", "key-hotel"}

func (r *Runner) runGateway(ctx context.Context) (*Cell, error) {
	check := map[string]string{"X-Api-Key": gatewayKeys[0]}
	peers, err := r.startPeers(ctx, []string{kindSluiceGateway, kindNginxLua}, "/", check)
	if err != nil {
		return nil, err
	}
	defer r.stopPeers(peers)
	for _, p := range peers {
		// Both peers must really do the edits, or the comparison is unfair.
		_, h, err := httpGet(p.URL("/"), check)
		if err != nil {
			r.warnf("gateway %s: check request: %v", p.Name, err)
			continue
		}
		if h.Get("X-Gateway") != "sluice" {
			r.warnf("gateway %s: response lacks X-Gateway: sluice (got %q)", p.Name, h.Get("X-Gateway"))
		}
		if h.Get("X-RateLimit-Limit") == "" || h.Get("X-RateLimit-Remaining") == "" {
			r.warnf("gateway %s: response lacks X-RateLimit-Limit/-Remaining", p.Name)
		}
		if h.Get("X-Seen-Gateway") != "sluice" {
			r.warnf("gateway %s: upstream did not see X-Gateway: sluice (got %q)", p.Name, h.Get("X-Seen-Gateway"))
		}
	}
	script, err := WrkScript(r.dir, "gateway.lua", []string{"/"}, gatewayKeys)
	if err != nil {
		return nil, err
	}
	conns := r.cfg.Conns[0]
	cell := &Cell{Scenario: "gateway", Name: fmt.Sprintf("limit-count + headers, %s body, %d conns", bodyLabels["13"], conns), Conns: conns, Body: "13", Reference: "nginx+lua"}
	spec := WrkSpec{Conns: conns, Threads: r.cfg.WrkThreads, Duration: r.cfg.Duration, Script: script, CPUs: r.cfg.LoadCPUs}
	_, err = r.runCell(ctx, cell, peers, "/", spec)
	return cell, err
}

func (r *Runner) runRoutes(ctx context.Context) (*Cell, error) {
	// The same servers with one catch-all route beside them isolate the
	// lookup cost: CPU/req with 1,000 routes minus CPU/req with one.
	peers, err := r.startPeers(ctx, []string{kindSluiceRoutes, kindNginxRoutes, kindSluice1Route, kindNginx1Route}, "/r7/x", nil)
	if err != nil {
		return nil, err
	}
	defer r.stopPeers(peers)
	// Every route once, in a scattered order (7919 is prime, so i*7919 mod n
	// is a permutation unless n is a multiple of it).
	n := r.cfg.Routes
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("/r%d/x", (i*7919)%n)
	}
	script, err := WrkScript(r.dir, "routes.lua", paths, nil)
	if err != nil {
		return nil, err
	}
	conns := r.cfg.Conns[0]
	cell := &Cell{Scenario: "routes", Name: fmt.Sprintf("%d prefix routes, %s body, %d conns", n, bodyLabels["13"], conns), Conns: conns, Body: "13", Reference: "nginx"}
	spec := WrkSpec{Conns: conns, Threads: r.cfg.WrkThreads, Duration: r.cfg.Duration, Script: script, CPUs: r.cfg.LoadCPUs}
	_, err = r.runCell(ctx, cell, peers, "/", spec)
	return cell, err
}

// runCheckedCell starts the peers of kinds (each answering path, with
// startHeader, before it counts as started), has check verify each one does
// the cell's work (what it returns becomes warnings in the report), and
// measures cell: wrk on path with cell.Conns connections, cycling keys in
// X-Api-Key when there are any.
func (r *Runner) runCheckedCell(ctx context.Context, cell *Cell, kinds []string, path string, startHeader map[string]string,
	keys []string, check func(*Peer) []string) (*Cell, error) {
	peers, err := r.startPeers(ctx, kinds, path, startHeader)
	if err != nil {
		return nil, err
	}
	defer r.stopPeers(peers)
	for _, p := range peers {
		for _, problem := range check(p) {
			r.warnf("%s %s: %s", cell.Scenario, p.Name, problem)
		}
	}
	script, err := WrkScript(r.dir, cell.Scenario+".lua", []string{path}, keys)
	if err != nil {
		return nil, err
	}
	spec := WrkSpec{Conns: cell.Conns, Threads: r.cfg.WrkThreads, Duration: r.cfg.Duration, Script: script, CPUs: r.cfg.LoadCPUs}
	peers, err = r.runCell(ctx, cell, peers, path, spec)
	if err == nil && r.cfg.Strace {
		// The system calls per request tell the kernel's share of a cell's
		// CPU apart from the gateway's own work.
		r.straceCell(ctx, cell, peers, path, spec)
	}
	return cell, err
}

// runCell warms every peer up, then runs Rounds rounds of A B A B and
// aggregates. A peer whose process dies is dropped from the cell and the
// returned peer list (with a warning); other failures are errors.
func (r *Runner) runCell(ctx context.Context, cell *Cell, peers []*Peer, path string, spec WrkSpec) ([]*Peer, error) {
	r.logf("-- %s: %s", cell.Scenario, cell.Name)
	results := map[*Peer]*PeerResult{}
	for _, p := range peers {
		results[p] = &PeerResult{Peer: p.Name}
	}
	alive := append([]*Peer(nil), peers...)
	drop := func(p *Peer, err error) {
		r.warnf("%s: %s dropped: %v; %s (full log: %s)", cell.Name, p.Name, err, p.Proc.Failure(), r.keepLog(p.Proc))
		for i, q := range alive {
			if q == p {
				alive = append(alive[:i], alive[i+1:]...)
				break
			}
		}
	}
	if r.cfg.Warmup > 0 {
		for _, p := range append([]*Peer(nil), alive...) {
			w := spec
			w.URL, w.Duration = p.URL(path), r.cfg.Warmup
			if _, _, err := RunWrk(ctx, w); err != nil {
				if exited, _ := p.Proc.Exited(); exited {
					drop(p, err)
					continue
				}
				return peers, fmt.Errorf("warm-up %s: %w", p.Name, err)
			}
		}
	}
	for round := 1; round <= r.cfg.Rounds; round++ {
		for _, p := range append([]*Peer(nil), alive...) {
			if ctx.Err() != nil {
				return peers, ctx.Err()
			}
			s := spec
			s.URL = p.URL(path)
			run, err := r.measure(ctx, p, s, round)
			if err != nil {
				if exited, _ := p.Proc.Exited(); exited {
					drop(p, err)
					continue
				}
				return peers, err
			}
			results[p].Runs = append(results[p].Runs, run)
			r.logf("   round %d %-17s %9.0f req/s  p50 %6.2fms p99 %6.2fms  cpu %5.2fµs/req (usr %.2f sys %.2f)  cpu%% proxy %3.0f core %3.0f load %3.0f steal %2.0f  rss %5.1fMiB  upstream+%d  errors %d",
				round, p.Name, run.RPS, float64(run.P50Micros)/1000, float64(run.P99Micros)/1000,
				run.CPUPerReq, run.UserPerReq, run.SysPerReq, run.ProxyCPUPercent, run.ProxyCoreBusy, run.LoadCoreBusy, run.StealPercent, float64(run.RSSBytes)/(1<<20), run.UpstreamOpened, run.Errors)
			if run.Errors > 0 {
				r.warnf("%s round %d: %s had %d wrk errors (%d status >= 400)", cell.Name, round, p.Name, run.Errors, run.ErrStatus)
			}
		}
	}
	for _, p := range peers {
		res := results[p]
		if len(res.Runs) == 0 {
			continue
		}
		res.Aggregate()
		cell.Peers = append(cell.Peers, res)
	}
	return alive, nil
}

func (r *Runner) straceCell(ctx context.Context, cell *Cell, peers []*Peer, path string, spec WrkSpec) {
	for _, p := range peers {
		s := spec
		s.URL = p.URL(path)
		st, err := r.straceRun(ctx, p, s)
		if err != nil {
			r.warnf("strace %s: %v", p.Name, err)
			continue
		}
		r.logf("   strace %-17s %.2f syscalls/req (%d calls, %d requests; %s)", p.Name, st.PerRequest, st.Calls, st.Requests, strings.Join(st.Top, " "))
		cell.Strace = append(cell.Strace, st)
	}
}

func (r *Runner) runIdle(ctx context.Context) ([]IdleResult, error) {
	kinds, err := r.plainKinds()
	if err != nil {
		return nil, err
	}
	var out []IdleResult
	for _, k := range kinds {
		p, err := r.startPeer(ctx, k, "/", nil)
		if err != nil {
			return out, err
		}
		if p == nil {
			continue
		}
		res, err := r.idleOne(ctx, p)
		r.stopPeer(p)
		if err != nil {
			return out, fmt.Errorf("idle %s: %w", p.Name, err)
		}
		r.logf("   idle %-17s held %d (failed %d, still open at the end %d)  rss %.1f -> %.1f MiB  %.2f KiB/conn  upstream+%d",
			res.Peer, res.Held, res.Failed, res.StillOpen, float64(res.RSSBefore)/(1<<20), float64(res.RSSAfter)/(1<<20), res.BytesPerConn/1024, res.UpstreamOpened)
		if res.Failed > 0 || res.StillOpen < res.Held {
			r.warnf("idle %s: %d connections failed, %d of %d held were closed by the proxy before the end", res.Peer, res.Failed, res.Held-res.StillOpen, res.Held)
		}
		out = append(out, res)
	}
	return out, nil
}

// idleOne measures the peer's RSS, has idleconns open and hold IdleConns
// keep-alive connections (one request each), and measures again.
func (r *Runner) idleOne(ctx context.Context, p *Peer) (IdleResult, error) {
	res := IdleResult{Peer: p.Name}
	// A short warm-up so lazily built state (pools, buffers) is in "before".
	w := WrkSpec{URL: p.URL("/"), Conns: 16, Threads: 1, Duration: time.Second, CPUs: r.cfg.LoadCPUs}
	script, err := WrkScript(r.dir, "idle-warmup.lua", []string{"/"}, nil)
	if err != nil {
		return res, err
	}
	w.Script = script
	if _, _, err := RunWrk(ctx, w); err != nil {
		return res, err
	}
	time.Sleep(time.Second)
	before, err := ReadTree(p.Proc.PID())
	if err != nil {
		return res, err
	}
	acc0, err := r.UpstreamAccepts()
	if err != nil {
		return res, err
	}
	stdin, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	proc, err := r.sup.Start(StartOpts{
		Name:   fmt.Sprintf("idleconns-%d", p.Port),
		CPUs:   r.cfg.LoadCPUs,
		Argv:   []string{r.cfg.IdleBin, "-addr", fmt.Sprintf("127.0.0.1:%d", p.Port), "-n", strconv.Itoa(r.cfg.IdleConns)},
		Stdin:  stdin,
		Stdout: stdoutW,
	})
	if err != nil {
		return res, err
	}
	defer func() {
		stdinW.Close()
		proc.Stop(10 * time.Second)
		r.sup.Forget(proc)
		stdoutW.Close()
	}()
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	readLine := func(prefix string, timeout time.Duration) ([]string, error) {
		select {
		case line, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("idleconns exited; log: %s", proc.LogTail(400))
			}
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != prefix {
				return nil, fmt.Errorf("idleconns: unexpected line %q", line)
			}
			return f[1:], nil
		case <-time.After(timeout):
			return nil, errors.New("idleconns: timed out")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f, err := readLine("READY", 5*time.Minute)
	if err != nil || len(f) != 2 {
		return res, fmt.Errorf("waiting for READY: %v %v", err, f)
	}
	res.Held, _ = strconv.Atoi(f[0])
	res.Failed, _ = strconv.Atoi(f[1])
	time.Sleep(2 * time.Second) // let the proxy settle (GC, freed buffers)
	after, err := ReadTree(p.Proc.PID())
	if err != nil {
		return res, err
	}
	acc1, err := r.UpstreamAccepts()
	if err != nil {
		return res, err
	}
	stdinW.Close()
	if f, err = readLine("CLOSED", time.Minute); err == nil && len(f) == 1 {
		res.StillOpen, _ = strconv.Atoi(f[0])
	}
	res.RSSBefore, res.RSSAfter = before.RSSBytes, after.RSSBytes
	res.UpstreamOpened = acc1 - acc0 - 1
	if res.Held > 0 {
		res.BytesPerConn = (float64(after.RSSBytes) - float64(before.RSSBytes)) / float64(res.Held)
	}
	return res, nil
}
