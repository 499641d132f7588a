package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is everything one `make bench` measured; it is written as JSON and
// rendered as markdown.
type Report struct {
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished"`
	Machine  Machine           `json:"machine"`
	Config   ConfigSummary     `json:"config"`
	Cells    []*Cell           `json:"cells"`
	Idle     []IdleResult      `json:"idle,omitempty"`
	Skipped  map[string]string `json:"skipped,omitempty"` // peer kind -> why
	Warnings []string          `json:"warnings,omitempty"`
	TempDir  string            `json:"temp_dir"`
}

// ConfigSummary is the part of Config a reader of the results needs.
type ConfigSummary struct {
	Rounds     int      `json:"rounds"`
	Duration   string   `json:"duration"`
	Warmup     string   `json:"warmup"`
	ProxyCPUs  string   `json:"proxy_cpus"`
	LoadCPUs   string   `json:"load_cpus"`
	WrkThreads int      `json:"wrk_threads"`
	Scenarios  []string `json:"scenarios"`
	Proxies    []string `json:"proxies"`
	IdleConns  int      `json:"idle_conns"`
	Routes     int      `json:"routes"`
	// ScrapeRoutes is the scrape scenario's route count.
	ScrapeRoutes int `json:"scrape_routes,omitempty"`
}

func (c Config) summary() ConfigSummary {
	return ConfigSummary{
		Rounds: c.Rounds, Duration: c.Duration.String(), Warmup: c.Warmup.String(),
		ProxyCPUs: c.ProxyCPUs, LoadCPUs: c.LoadCPUs, WrkThreads: c.WrkThreads,
		Scenarios: c.Scenarios, Proxies: c.Proxies, IdleConns: c.IdleConns, Routes: c.Routes,
		ScrapeRoutes: c.ScrapeRoutes,
	}
}

// Write stores the report as dir/e2e-<time>.json and .md and returns the
// two paths.
func (rep *Report) Write(dir string) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	stamp := rep.Started.Format("20060102-150405")
	jsonPath := filepath.Join(dir, "e2e-"+stamp+".json")
	mdPath := filepath.Join(dir, "e2e-"+stamp+".md")
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(jsonPath, b, 0o644); err != nil {
		return "", "", err
	}
	f, err := os.Create(mdPath)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	rep.Markdown(f)
	return jsonPath, mdPath, f.Close()
}

// ratio formats " (0.83×)" of v against ref, "" when either is unusable.
func ratio(v, ref float64) string {
	if ref <= 0 || v < 0 {
		return ""
	}
	return fmt.Sprintf(" (%.2f×)", v/ref)
}

// thousands formats 31234.5 as "31,235".
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[0] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Markdown renders the report: machine, one table per cell with every
// figure's ratio to the cell's reference peer, the idle table, the goals.
func (rep *Report) Markdown(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "Run %s → %s UTC on %s (%d CPUs, %s, kernel %s); load average %s at the start, %s at the end.\n\n",
		rep.Started.Format("2006-01-02 15:04"), rep.Finished.Format("15:04"), m.CPUModel, m.CPUs, m.MemTotal, m.Kernel, m.LoadAvgStart, m.LoadAvgEnd)
	fmt.Fprintf(w, "Versions: %s; %s; %s; lua-nginx-module %s; %s; %s; %s.\n\n",
		m.Versions["nginx"], m.Versions["haproxy"], m.Versions["wrk"], m.Versions["lua-nginx-module"], m.Versions["varnish"], m.Versions["redis"], m.Versions["go"])
	c := rep.Config
	fmt.Fprintf(w, "One worker per proxy pinned to CPU %s; wrk (%d thread) and the upstream nginx share CPU %s. "+
		"Medians of %d rounds of %s (A B A B order, %s warm-up each); ratios (×) are against the block's reference peer. "+
		"CPU %% columns: the proxy's own user+sys, everything that ran on its core (other tenants of the machine included), "+
		"and the wrk+upstream core; a core far busier than the proxy means a noisy run.\n\n",
		c.ProxyCPUs, c.WrkThreads, c.LoadCPUs, c.Rounds, c.Duration, c.Warmup)

	for _, cell := range rep.Cells {
		ref := cell.Peer(cell.Reference)
		fmt.Fprintf(w, "### %s: %s (against %s)\n\n", cell.Scenario, cell.Name, cell.Reference)
		fmt.Fprintln(w, "| proxy | req/s | p50 ms | p99 ms | CPU µs/req (usr + sys) | CPU % proxy · its core · load core | RSS MiB | upstream conns opened (reuse) | allocs/req |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, p := range cell.Peers {
			cpuPct := fmt.Sprintf("%.0f · %.0f · %.0f", p.ProxyCPUPercent, p.ProxyCoreBusy, p.LoadCoreBusy)
			var rr PeerResult
			if ref != nil && p != ref {
				rr = *ref
			}
			allocs := "–"
			if p.AllocsPerReq >= 0 {
				allocs = fmt.Sprintf("%.2f", p.AllocsPerReq)
			}
			fmt.Fprintf(w, "| %s | %s%s | %.2f%s | %.2f%s | %.2f (%.2f + %.2f)%s | %s | %.1f%s | %d (%.3f %%) | %s |\n",
				p.Peer,
				thousands(p.RPS), ratio(p.RPS, rr.RPS),
				p.P50Micros/1000, ratio(p.P50Micros, rr.P50Micros),
				p.P99Micros/1000, ratio(p.P99Micros, rr.P99Micros),
				p.CPUPerReq, p.UserPerReq, p.SysPerReq, ratio(p.CPUPerReq, rr.CPUPerReq),
				cpuPct,
				p.RSSBytes/(1<<20), ratio(p.RSSBytes, rr.RSSBytes),
				p.UpstreamOpened, p.ReusePercent, allocs)
		}
		var redis, upstream []string
		for _, p := range cell.Peers {
			if p.RedisPerReq > 0 {
				redis = append(redis, fmt.Sprintf("%s %.2f", p.Peer, p.RedisPerReq))
			}
			upstream = append(upstream, fmt.Sprintf("%s %.3f", p.Peer, p.UpstreamPerReq))
		}
		if len(redis) > 0 {
			fmt.Fprintf(w, "\nredis-server CPU µs/request (on the load core, not in the proxy's figure): %s.\n", strings.Join(redis, ", "))
		}
		if cell.Scenario == "cache" || cell.Scenario == "aggregate" {
			fmt.Fprintf(w, "\nUpstream requests per client request: %s.\n", strings.Join(upstream, ", "))
		}
		if len(cell.Strace) > 0 {
			var refCalls float64
			for _, s := range cell.Strace {
				if s.Peer == cell.Reference {
					refCalls = s.PerRequest
				}
			}
			fmt.Fprintln(w, "\nSyscalls per request (separate run under `strace -c -f`; throughput there is meaningless):")
			fmt.Fprintln(w)
			for _, s := range cell.Strace {
				r := ""
				if s.Peer != cell.Reference {
					r = ratio(s.PerRequest, refCalls)
				}
				fmt.Fprintf(w, "- %s: %.2f%s — %s\n", s.Peer, s.PerRequest, r, strings.Join(s.Top, ", "))
			}
		}
		switch cell.Scenario {
		case "obs":
			writeObs(w, cell)
		case "scrape":
			writeScrape(w, cell)
		}
		fmt.Fprintln(w)
	}

	if len(rep.Idle) > 0 {
		var ref *IdleResult
		for i := range rep.Idle {
			if rep.Idle[i].Peer == "nginx" {
				ref = &rep.Idle[i]
			}
		}
		fmt.Fprintf(w, "### idle: %d keep-alive client connections held after one request each (against nginx)\n\n", rep.Config.IdleConns)
		fmt.Fprintln(w, "| proxy | held (failed) | still open at the end | RSS before MiB | RSS after MiB | KiB per idle conn | upstream conns opened |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
		for _, r := range rep.Idle {
			rr := ""
			if ref != nil && ref.Peer != r.Peer {
				rr = ratio(r.BytesPerConn, ref.BytesPerConn)
			}
			fmt.Fprintf(w, "| %s | %d (%d) | %d | %.1f | %.1f | %.2f%s | %d |\n",
				r.Peer, r.Held, r.Failed, r.StillOpen, float64(r.RSSBefore)/(1<<20), float64(r.RSSAfter)/(1<<20), r.BytesPerConn/1024, rr, r.UpstreamOpened)
		}
		fmt.Fprintln(w)
	}

	if goals := rep.Goals(); len(goals) > 0 {
		fmt.Fprintln(w, "### Goals (reported, not asserted)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| goal | target | measured | met |")
		fmt.Fprintln(w, "|---|---|---|---|")
		for _, g := range goals {
			met := "no"
			if g.Met {
				met = "yes"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.Name, g.Target, g.Measured, met)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w, "Skipped:")
		for k, v := range rep.Skipped {
			fmt.Fprintf(w, "- %s: %s\n", k, oneLine(v, 300))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintln(w, "Warnings:")
		for _, v := range rep.Warnings {
			fmt.Fprintf(w, "- %s\n", oneLine(v, 300))
		}
		fmt.Fprintln(w)
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// Goal is one target of an issue (6, 14...) checked against the measured medians.
type Goal struct {
	Name, Target, Measured string
	Met                    bool
}

// cpuTargets is each scenario's bar for Sluice's CPU µs/request as a
// multiple of its reference peer's: issue 6 (plain, gateway), issue 14
// (auth), issue 15 (redislimit), issue 17 (aggregate). A scenario without one (routes: a lookup-cost comparison) has
// no CPU goal; issue 16 (cache) compares without one.
var cpuTargets = map[string]float64{"plain": 0.8, "gateway": 0.7, "auth": 0.6, "redislimit": 0.6, "aggregate": 1}

// Goals compares Sluice with its reference peer in every cell where both
// ran, and adds issue 11's bars in the obs and scrape cells. Empty when
// Sluice did not run.
func (rep *Report) Goals() []Goal {
	var goals []Goal
	for _, cell := range rep.Cells {
		goals = append(goals, obsGoals(cell)...)
		s, ref := cell.Peer("sluice"), cell.Peer(cell.Reference)
		if s == nil {
			continue
		}
		label := cell.Scenario + " " + cell.Name
		if ref != nil && ref.CPUPerReq > 0 {
			target, ok := cpuTargets[cell.Scenario]
			if ok {
				r := s.CPUPerReq / ref.CPUPerReq
				goals = append(goals, Goal{label + ": CPU µs/req", fmt.Sprintf("≤ %.1f× %s", target, cell.Reference), fmt.Sprintf("%.2f×", r), r <= target})
			}
		}
		if cell.Scenario == "plain" && ref != nil && ref.RPS > 0 {
			r := s.RPS / ref.RPS
			goals = append(goals, Goal{label + ": req/s", "≥ 1.15× nginx", fmt.Sprintf("%.2f×", r), r >= 1.15})
			p := s.P99Micros / max(ref.P99Micros, 1)
			goals = append(goals, Goal{label + ": p99", "≤ nginx", fmt.Sprintf("%.2f×", p), p <= 1})
		}
		if cell.Scenario != "cache" { // hits open no upstream connection at all
			goals = append(goals, Goal{label + ": upstream reuse", "≥ 99.9 %", fmt.Sprintf("%.3f %%", s.ReusePercent), s.ReusePercent >= 99.9})
		}
		if s.AllocsPerReq >= 0 {
			goals = append(goals, Goal{label + ": allocs/req", "≤ 0.1", fmt.Sprintf("%.3f", s.AllocsPerReq), s.AllocsPerReq <= 0.1})
		}
		for _, st := range cell.Strace {
			if st.Peer == "sluice" {
				goals = append(goals, Goal{label + ": syscalls/req", "≤ 4.3", fmt.Sprintf("%.2f", st.PerRequest), st.PerRequest <= 4.3})
			}
		}
	}
	return goals
}
