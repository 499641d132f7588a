package harness

import (
	"fmt"
	"io"
	"strings"
)

// Issue 11's bars, the obs and scrape cells' goals.
const (
	obsMaxCPUPercent  = 3.0   // metrics + JSON log: at most +3 % CPU µs/request
	scrapeMaxWallMs   = 100.0 // one scrape of 10,000 routes × 5 codes
	obsPeer           = "sluice+obs"
	scrapePeer        = "sluice + scraper"
	scrapeControlPeer = "sluice + control"
	scrapeWindowsPeer = "sluice + scrape, control in windows"
	// scrapeWindowsMaxRatio reads "does not move the p99" for the
	// windowed peer: the scrape windows' p99 at most 10 % above the
	// control windows', at the median of the rounds. It is the finest
	// difference these runs resolve, not a cost the bar allows.
	scrapeWindowsMaxRatio = 1.10
)

// pctChange is b against a in percent; 0 when a is not positive.
func pctChange(a, b float64) float64 {
	if a <= 0 {
		return 0
	}
	return 100 * (b - a) / a
}

// roundRow is one round of a cell: each peer's run of that round, in the
// cell's peer order (nil where the peer has none: it was dropped).
type roundRow struct {
	Round int
	Runs  []*Run
}

// cellRounds lines up the runs of a cell's peers by round.
func cellRounds(cell *Cell) []roundRow {
	var rows []roundRow
	at := map[int]int{}
	for pi, p := range cell.Peers {
		for ri := range p.Runs {
			run := &p.Runs[ri]
			i, ok := at[run.Round]
			if !ok {
				i = len(rows)
				at[run.Round] = i
				rows = append(rows, roundRow{Round: run.Round, Runs: make([]*Run, len(cell.Peers))})
			}
			rows[i].Runs[pi] = run
		}
	}
	return rows
}

// ObsDiff is the obs cell's CPU comparison.
type ObsDiff struct {
	PerRound       []float64 // % per round with both runs, in round order
	MedianOfRounds float64   // median of PerRound
	OfMedians      float64   // % of the obs peer's median against the plain one's
	Plain, Obs     float64   // the medians, µs/request
}

// obsDiff compares the obs cell's two peers; ok is false when either did
// not run.
func obsDiff(cell *Cell) (ObsDiff, bool) {
	plain, obs := cell.Peer(cell.Reference), cell.Peer(obsPeer)
	if plain == nil || obs == nil {
		return ObsDiff{}, false
	}
	d := ObsDiff{Plain: plain.CPUPerReq, Obs: obs.CPUPerReq, OfMedians: pctChange(plain.CPUPerReq, obs.CPUPerReq)}
	pi, oi := peerIndex(cell, plain.Peer), peerIndex(cell, obsPeer)
	for _, row := range cellRounds(cell) {
		if a, b := row.Runs[pi], row.Runs[oi]; a != nil && b != nil {
			d.PerRound = append(d.PerRound, pctChange(a.CPUPerReq, b.CPUPerReq))
		}
	}
	d.MedianOfRounds = Median(d.PerRound)
	return d, true
}

func peerIndex(cell *Cell, name string) int {
	for i, p := range cell.Peers {
		if p.Peer == name {
			return i
		}
	}
	return -1
}

// writeObs renders the obs cell's rounds and its difference.
func writeObs(w io.Writer, cell *Cell) {
	d, ok := obsDiff(cell)
	if !ok {
		return
	}
	pi, oi := peerIndex(cell, cell.Reference), peerIndex(cell, obsPeer)
	fmt.Fprintf(w, "\nPer round (%s, then %s):\n\n", cell.Reference, obsPeer)
	fmt.Fprintf(w, "| round | %[1]s CPU µs/req (usr + sys) | %[2]s CPU µs/req (usr + sys) | difference | p99 ms %[1]s → %[2]s | req/s %[1]s · %[2]s | its core %% %[1]s · %[2]s |\n", cell.Reference, obsPeer)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range cellRounds(cell) {
		a, b := row.Runs[pi], row.Runs[oi]
		if a == nil || b == nil {
			continue
		}
		fmt.Fprintf(w, "| %d | %.2f (%.2f + %.2f) | %.2f (%.2f + %.2f) | %+.1f %% | %.2f → %.2f | %s · %s | %.0f · %.0f |\n",
			row.Round, a.CPUPerReq, a.UserPerReq, a.SysPerReq, b.CPUPerReq, b.UserPerReq, b.SysPerReq,
			pctChange(a.CPUPerReq, b.CPUPerReq), float64(a.P99Micros)/1000, float64(b.P99Micros)/1000,
			thousands(a.RPS), thousands(b.RPS), a.ProxyCoreBusy, b.ProxyCoreBusy)
	}
	lo, hi := minMax(d.PerRound)
	fmt.Fprintf(w, "\nCPU µs/request, difference of the medians: %.2f → %.2f, %+.1f %%; median of the per-round differences %+.1f %% (from %+.1f to %+.1f %%). Bar: ≤ +%.0f %%.\n",
		d.Plain, d.Obs, d.OfMedians, d.MedianOfRounds, lo, hi, obsMaxCPUPercent)
}

func minMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// ScrapeStats sums up the fetches a beside client made over a peer's runs.
type ScrapeStats struct {
	Fetches, Failed int
	WallMedianMs    float64 // of the fetches that succeeded
	WallMaxMs       float64
	TTFBMedianMs    float64 // to the first byte: the making of the body, mostly
	TTFBMaxMs       float64
	BytesMedian     float64
}

// scrapeStats sums up runs' fetches.
func scrapeStats(runs []Run) ScrapeStats {
	var st ScrapeStats
	var walls, ttfbs, sizes []float64
	for _, r := range runs {
		if r.Beside == nil {
			continue
		}
		for _, f := range r.Beside.Fetches {
			if f.Window == "odd" {
				continue // the control's fetch, beside the scrapes
			}
			st.Fetches++
			if !f.OK() {
				st.Failed++
				continue
			}
			ms := float64(f.WallMicros) / 1000
			walls = append(walls, ms)
			ttfbs = append(ttfbs, float64(f.TTFBMicros)/1000)
			sizes = append(sizes, float64(f.Bytes))
		}
	}
	st.WallMedianMs, st.TTFBMedianMs, st.BytesMedian = Median(walls), Median(ttfbs), Median(sizes)
	_, st.WallMaxMs = minMax(walls)
	_, st.TTFBMaxMs = minMax(ttfbs)
	return st
}

// writeScrape renders the scrape cell's set-up, its rounds and the
// scrapes' own times.
func writeScrape(w io.Writer, cell *Cell) {
	if c := cell.Scrape; c != nil {
		fmt.Fprintf(w, "\nSet-up: %d routes, each sent the upstream's %d statuses (%d requests, %d not as expected); a scrape then had %d `sluice_route_requests_total` series, %s bytes (%s with gzip). With no traffic (from the harness, a new connection each): %s ms, gzip %s ms.\n",
			c.Routes, len(scrapeCodes), c.WarmRequests, c.WarmMismatches, c.Series, thousands(float64(c.Bytes)), thousands(float64(c.GzipBytes)),
			joinMs(c.IdleWallMicros), joinMs(c.IdleGzipWallMicros))
	}
	fmt.Fprintln(w, "\nPer round (each round: no client beside wrk, the scraper, the control), latencies in ms:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| round | variant | req/s | p50 | p99 | p99.9 | CPU µs/req | its core % | beside: fetches, wall median / max ms, first byte median / max ms, bytes |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---|")
	for _, row := range cellRounds(cell) {
		for i, run := range row.Runs {
			if run == nil {
				continue
			}
			beside := "–"
			if run.Beside != nil {
				st := scrapeStats([]Run{*run})
				beside = fmt.Sprintf("%d (%d failed), %.1f / %.1f, %.1f / %.1f, %s", st.Fetches, st.Failed, st.WallMedianMs, st.WallMaxMs, st.TTFBMedianMs, st.TTFBMaxMs, thousands(st.BytesMedian))
			}
			fmt.Fprintf(w, "| %d | %s | %s | %.2f | %.2f | %.2f | %.2f | %.0f | %s |\n",
				row.Round, cell.Peers[i].Peer, thousands(run.RPS), float64(run.P50Micros)/1000, float64(run.P99Micros)/1000,
				float64(run.P999Micros)/1000, run.CPUPerReq, run.ProxyCoreBusy, beside)
		}
	}
	fmt.Fprintln(w)
	var med []string
	for _, p := range cell.Peers {
		med = append(med, fmt.Sprintf("%s p50 %.2f, p99 %.2f, p99.9 %.2f ms", p.Peer, p.P50Micros/1000, p.P99Micros/1000, p.P999Micros/1000))
	}
	fmt.Fprintf(w, "Medians: %s.\n", strings.Join(med, "; "))
	if p := cell.Peer(scrapePeer); p != nil {
		st := scrapeStats(p.Runs)
		fmt.Fprintf(w, "\nScrapes under traffic: %d (%d failed), wall time median %.1f ms, max %.1f ms (bar: ≤ %.0f ms); to the first byte median %.1f ms, max %.1f ms; %s bytes each with gzip (median).\n",
			st.Fetches, st.Failed, st.WallMedianMs, st.WallMaxMs, scrapeMaxWallMs, st.TTFBMedianMs, st.TTFBMaxMs, thousands(st.BytesMedian))
	}
	writeScrapeWindows(w, cell)
}

// WindowsDiff is the windowed peer's comparison: per run, the p99 of the
// requests due in the scrape's windows against the p99 of those due in
// the control's.
type WindowsDiff struct {
	Runs          []Run     // the runs compared: with windows, and requests in the control's
	Ratios        []float64 // scrape windows' p99 / control windows', per run
	MedianRatio   float64
	DiffsMs       []float64 // the same as a difference, ms
	MedianDiffMs  float64
	Above, Rounds int // runs whose scrape windows' p99 was the higher, of all
}

func windowsDiff(p *PeerResult) (WindowsDiff, bool) {
	var d WindowsDiff
	if p == nil {
		return d, false
	}
	for _, run := range p.Runs {
		win := run.Windows
		if win == nil || win.OddP99Micros <= 0 {
			continue
		}
		d.Runs = append(d.Runs, run)
		d.Ratios = append(d.Ratios, float64(win.EvenP99Micros)/float64(win.OddP99Micros))
		d.DiffsMs = append(d.DiffsMs, float64(win.EvenP99Micros-win.OddP99Micros)/1000)
		if win.EvenP99Micros > win.OddP99Micros {
			d.Above++
		}
	}
	d.Rounds = len(d.Ratios)
	d.MedianRatio, d.MedianDiffMs = Median(d.Ratios), Median(d.DiffsMs)
	return d, d.Rounds > 0
}

// writeScrapeWindows renders the windowed peer's rounds.
func writeScrapeWindows(w io.Writer, cell *Cell) {
	d, ok := windowsDiff(cell.Peer(scrapeWindowsPeer))
	if !ok {
		return
	}
	fmt.Fprintf(w, "\nScrape and control in one run (%s): the scraper fetched /metrics at the start of every even wall-clock window of %s, the control the upstream at the start of every odd one, and the open loop's requests were split by the window they were due in. Latencies in ms:\n\n", scrapeWindowsPeer, scrapeWindow)
	fmt.Fprintln(w, "| round | requests in scrape / control windows | p99 scrape windows | p99 control windows | ratio | p99.9 scrape / control |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|")
	for i, run := range d.Runs {
		win := run.Windows
		fmt.Fprintf(w, "| %d | %s / %s | %.2f | %.2f | %.2f | %.2f / %.2f |\n", run.Round, thousands(float64(win.EvenRequests)), thousands(float64(win.OddRequests)),
			float64(win.EvenP99Micros)/1000, float64(win.OddP99Micros)/1000, d.Ratios[i],
			float64(win.EvenP999Micros)/1000, float64(win.OddP999Micros)/1000)
	}
	lo, hi := minMax(d.Ratios)
	fmt.Fprintf(w, "\nMedian ratio %.3f (from %.3f to %.3f), median difference %+.3f ms; the scrape windows' p99 was the higher in %d of %d runs. Bar: median ratio ≤ %.2f.\n",
		d.MedianRatio, lo, hi, d.MedianDiffMs, d.Above, d.Rounds, scrapeWindowsMaxRatio)
	// Every peer's open loop was split by windows: the reference's, with
	// nothing beside it, compares a run's two halves where nothing differs.
	if aa, ok := windowsDiff(cell.Peer(cell.Reference)); ok {
		lo, hi := minMax(aa.Ratios)
		fmt.Fprintf(w, "\nA/A, the same split of the runs with nothing beside the traffic (%s): median ratio %.3f (from %.3f to %.3f); the even windows' p99 was the higher in %d of %d runs. How finely these runs tell two p99s apart.\n",
			cell.Reference, aa.MedianRatio, lo, hi, aa.Above, aa.Rounds)
	}
}

func joinMs(us []int64) string {
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = fmt.Sprintf("%.1f", float64(u)/1000)
	}
	return strings.Join(parts, ", ")
}

// obsGoals are issue 11's bars for the obs and scrape cells.
func obsGoals(cell *Cell) []Goal {
	label := cell.Scenario + " " + cell.Name
	switch cell.Scenario {
	case "obs":
		d, ok := obsDiff(cell)
		if !ok {
			return nil
		}
		return []Goal{{label + ": CPU µs/req", fmt.Sprintf("≤ +%.0f %% %s", obsMaxCPUPercent, cell.Reference),
			fmt.Sprintf("%+.1f %% (per-round median %+.1f %%)", d.OfMedians, d.MedianOfRounds), d.OfMedians <= obsMaxCPUPercent}}
	case "scrape":
		s := cell.Peer(scrapePeer)
		if s == nil {
			return nil
		}
		var goals []Goal
		if st := scrapeStats(s.Runs); st.Fetches > 0 {
			goals = append(goals, Goal{label + ": scrape wall time under traffic", fmt.Sprintf("≤ %.0f ms", scrapeMaxWallMs),
				fmt.Sprintf("median %.1f ms, max %.1f ms (%d scrapes, %d failed)", st.WallMedianMs, st.WallMaxMs, st.Fetches, st.Failed),
				st.Failed == 0 && st.WallMaxMs <= scrapeMaxWallMs})
		}
		none, control := cell.Peer(cell.Reference), cell.Peer(scrapeControlPeer)
		if none != nil && control != nil {
			goals = append(goals, Goal{label + ": p99 with a scrape every second", "≤ p99 with the control client",
				fmt.Sprintf("%.2f ms (control %.2f ms, none %.2f ms)", s.P99Micros/1000, control.P99Micros/1000, none.P99Micros/1000),
				s.P99Micros <= control.P99Micros})
		}
		if d, ok := windowsDiff(cell.Peer(scrapeWindowsPeer)); ok {
			goals = append(goals, Goal{label + ": p99 in the scrape's windows, one run", fmt.Sprintf("≤ %.2f × the control's windows' (median of runs)", scrapeWindowsMaxRatio),
				fmt.Sprintf("× %.3f (difference %+.3f ms; higher in %d of %d runs)", d.MedianRatio, d.MedianDiffMs, d.Above, d.Rounds),
				d.MedianRatio <= scrapeWindowsMaxRatio})
		}
		return goals
	}
	return nil
}
