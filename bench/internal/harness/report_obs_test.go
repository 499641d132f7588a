package harness

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseFetchLines(t *testing.T) {
	in := "FETCH wall_us=12345 ttfb_us=11000 status=200 bytes=301822 enc=gzip\n" +
		"runtime: a message the poller did not write\n" +
		"FETCH-ERROR wall_us=17 err=\"Get \\\"http://127.0.0.1:1/metrics\\\": connection refused\"\n" +
		"FETCH wall_us=900 status=503 bytes=20 enc=identity\n" +
		"FETCH window=odd wall_us=800 status=200 bytes=13 enc=identity\n" +
		"FETCH wall_us=1" // cut by the stop: still a fetch that ended
	want := []Fetch{
		{WallMicros: 12345, TTFBMicros: 11000, Status: 200, Bytes: 301822, Encoding: "gzip"},
		{WallMicros: 17, Err: `Get "http://127.0.0.1:1/metrics": connection refused`},
		{WallMicros: 900, Status: 503, Bytes: 20, Encoding: "identity"},
		{WallMicros: 800, Status: 200, Bytes: 13, Encoding: "identity", Window: "odd"},
		{WallMicros: 1},
	}
	got := ParseFetchLines([]byte(in))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseFetchLines:\n got %+v\nwant %+v", got, want)
	}
	for i, ok := range []bool{true, false, false, true, false} {
		if got[i].OK() != ok {
			t.Errorf("fetch %d OK() = %v, want %v", i, got[i].OK(), ok)
		}
	}
}

func TestCountSeries(t *testing.T) {
	body := []byte(`# HELP sluice_route_requests_total Requests by route and status code.
# TYPE sluice_route_requests_total counter
sluice_route_requests_total{route="routes[0]",code="200"} 7
sluice_route_requests_total{route="routes[1]",code="404"} 1
sluice_route_requests_total_bogus{route="x"} 1
sluice_requests_total 8
sluice_route_requests_total 3`)
	if n := CountSeries(body, "sluice_route_requests_total"); n != 3 {
		t.Errorf("route series = %d, want 3", n)
	}
	if n := CountSeries(body, "sluice_requests_total"); n != 1 {
		t.Errorf("requests series = %d, want 1", n)
	}
	if n := CountSeries(nil, "x"); n != 0 {
		t.Errorf("empty body: %d", n)
	}
}

// obsCell is an obs cell of three rounds; the obs peer lost round 2 (a
// peer dropped mid-cell), so only rounds 1 and 3 pair.
func obsCell() *Cell {
	plain := &PeerResult{Peer: "sluice", Runs: []Run{
		{Round: 1, CPUPerReq: 20, UserPerReq: 8, SysPerReq: 12, P99Micros: 3000, RPS: 30000},
		{Round: 2, CPUPerReq: 30, P99Micros: 4000, RPS: 20000},
		{Round: 3, CPUPerReq: 25, UserPerReq: 10, SysPerReq: 15, P99Micros: 3500, RPS: 25000},
	}}
	obs := &PeerResult{Peer: obsPeer, Runs: []Run{
		{Round: 1, CPUPerReq: 21, UserPerReq: 9, SysPerReq: 12, P99Micros: 3100, RPS: 29000},
		{Round: 3, CPUPerReq: 24.5, UserPerReq: 10, SysPerReq: 14.5, P99Micros: 3400, RPS: 25500},
	}}
	plain.Aggregate()
	obs.Aggregate()
	return &Cell{Scenario: "obs", Name: "metrics + JSON access log against neither", Reference: "sluice", Peers: []*PeerResult{plain, obs}}
}

func TestObsDiffPairsRounds(t *testing.T) {
	d, ok := obsDiff(obsCell())
	if !ok {
		t.Fatal("obsDiff: not ok")
	}
	// Round 1: 20 → 21 (+5 %), round 3: 25 → 24.5 (−2 %); medians 25 → 22.75.
	if !reflect.DeepEqual(d.PerRound, []float64{5, -2}) || d.MedianOfRounds != 1.5 || d.Plain != 25 || d.Obs != 22.75 || d.OfMedians != -9 {
		t.Fatalf("obsDiff = %+v", d)
	}
	cell := obsCell()
	cell.Peers = cell.Peers[:1]
	if _, ok := obsDiff(cell); ok {
		t.Fatal("obsDiff without the obs peer: ok")
	}
}

func TestMarkdownShowsObsRoundsAndGoal(t *testing.T) {
	md := wantMarkdown(t, &Report{Cells: []*Cell{obsCell()}},
		"| 1 | 20.00 (8.00 + 12.00) | 21.00 (9.00 + 12.00) | +5.0 % | 3.00 → 3.10 | 30,000 · 29,000 |",
		"| 3 | 25.00 (10.00 + 15.00) | 24.50 (10.00 + 14.50) | -2.0 % | 3.50 → 3.40 | 25,000 · 25,500 |",
		"difference of the medians: 25.00 → 22.75, -9.0 %; median of the per-round differences +1.5 % (from -2.0 to +5.0 %)",
		"| obs metrics + JSON access log against neither: CPU µs/req | ≤ +3 % sluice | -9.0 % (per-round median +1.5 %) | yes |",
	)
	if strings.Contains(md, "| 2 | 30.00") {
		t.Errorf("round 2 (no obs run) rendered:\n%s", md)
	}
}

func scrapeCell() *Cell {
	fetches := func(walls ...int64) *BesideRun {
		b := &BesideRun{Client: "scraper"}
		for _, w := range walls {
			b.Fetches = append(b.Fetches, Fetch{WallMicros: w, TTFBMicros: w / 2, Status: 200, Bytes: 300000, Encoding: "gzip"})
		}
		return b
	}
	none := &PeerResult{Peer: "sluice", Runs: []Run{{Round: 1, RPS: 30000, P50Micros: 1500, P99Micros: 3000, P999Micros: 5000, CPUPerReq: 20}}}
	scraper := &PeerResult{Peer: scrapePeer, Runs: []Run{
		{Round: 1, RPS: 29000, P50Micros: 1500, P99Micros: 3200, P999Micros: 9000, CPUPerReq: 21, Beside: fetches(40000, 60000, 150000)},
	}}
	scraper.Runs[0].Beside.Fetches = append(scraper.Runs[0].Beside.Fetches, Fetch{WallMicros: 5, Err: "refused"})
	control := &PeerResult{Peer: scrapeControlPeer, Runs: []Run{{Round: 1, RPS: 29500, P50Micros: 1500, P99Micros: 3100, P999Micros: 6000, CPUPerReq: 20,
		Beside: &BesideRun{Client: "control", Fetches: []Fetch{{WallMicros: 2000, Status: 200, Bytes: 13}}}}}}
	for _, p := range []*PeerResult{none, scraper, control} {
		p.Aggregate()
	}
	return &Cell{Scenario: "scrape", Name: "10000 routes × 5 codes", Reference: "sluice", Peers: []*PeerResult{none, scraper, control},
		Scrape: &ScrapeCheck{Routes: 10000, WarmRequests: 50000, Series: 50000, Bytes: 3000000, GzipBytes: 300000,
			IdleWallMicros: []int64{30000, 25000}, IdleGzipWallMicros: []int64{40000, 35000}}}
}

// windowsCell is scrapeCell with the open loop's windowed peer: two runs,
// the scrape windows' p99 above the control windows' in one.
func windowsCell() *Cell {
	cell := scrapeCell()
	fetches := []Fetch{{WallMicros: 30000, Status: 200, Bytes: 300000, Window: "even"}, {WallMicros: 900, Status: 200, Bytes: 13, Window: "odd"}}
	win := &PeerResult{Peer: scrapeWindowsPeer, Runs: []Run{
		{Round: 1, RPS: 10000, P99Micros: 1000, Beside: &BesideRun{Client: "windows", Fetches: fetches},
			Windows: &WindowsReport{EvenRequests: 30000, EvenP99Micros: 1100, EvenP999Micros: 2000, OddRequests: 30000, OddP99Micros: 1000, OddP999Micros: 1800}},
		{Round: 2, RPS: 10000, P99Micros: 900,
			Windows: &WindowsReport{EvenRequests: 30000, EvenP99Micros: 800, EvenP999Micros: 1500, OddRequests: 30000, OddP99Micros: 1000, OddP999Micros: 1600}},
	}}
	win.Aggregate()
	cell.Peers = append(cell.Peers, win)
	// The reference's one run, split alike.
	cell.Peers[0].Runs[0].Windows = &WindowsReport{EvenRequests: 15000, EvenP99Micros: 1050, OddRequests: 15000, OddP99Micros: 1000}
	return cell
}

func TestWindowsDiffAndGoal(t *testing.T) {
	d, ok := windowsDiff(windowsCell().Peer(scrapeWindowsPeer))
	if !ok || !reflect.DeepEqual(d.Ratios, []float64{1.1, 0.8}) || d.Above != 1 || d.Rounds != 2 || d.MedianRatio < 0.9499 || d.MedianRatio > 0.9501 {
		t.Fatalf("windowsDiff = %+v, %v", d, ok)
	}
	if _, ok := windowsDiff(scrapeCell().Peer(scrapeWindowsPeer)); ok {
		t.Fatal("windowsDiff without the windowed peer: ok")
	}
	// Only the scrapes count as scrapes: the control's fetch in the odd
	// window is not one.
	if st := scrapeStats(windowsCell().Peer(scrapeWindowsPeer).Runs); st.Fetches != 1 || st.WallMaxMs != 30 {
		t.Fatalf("scrapeStats of the windowed peer = %+v, want the one scrape", st)
	}
	wantMarkdown(t, &Report{Cells: []*Cell{windowsCell()}},
		"| 1 | 30,000 / 30,000 | 1.10 | 1.00 | 1.10 | 2.00 / 1.80 |",
		"| 2 | 30,000 / 30,000 | 0.80 | 1.00 | 0.80 | 1.50 / 1.60 |",
		"Median ratio 0.950 (from 0.800 to 1.100), median difference -0.050 ms; the scrape windows' p99 was the higher in 1 of 2 runs. Bar: median ratio ≤ 1.10.",
		"A/A, the same split of the runs with nothing beside the traffic (sluice): median ratio 1.050 (from 1.050 to 1.050); the even windows' p99 was the higher in 1 of 1 runs.",
		"| scrape 10000 routes × 5 codes: p99 in the scrape's windows, one run | ≤ 1.10 × the control's windows' (median of runs) | × 0.950 (difference -0.050 ms; higher in 1 of 2 runs) | yes |",
	)
}

func TestScrapeStatsSkipsFailedFetches(t *testing.T) {
	st := scrapeStats(scrapeCell().Peers[1].Runs)
	want := ScrapeStats{Fetches: 4, Failed: 1, WallMedianMs: 60, WallMaxMs: 150, TTFBMedianMs: 30, TTFBMaxMs: 75, BytesMedian: 300000}
	if st != want {
		t.Fatalf("scrapeStats = %+v, want %+v", st, want)
	}
}

func TestMarkdownShowsScrapeRoundsAndGoals(t *testing.T) {
	wantMarkdown(t, &Report{Cells: []*Cell{scrapeCell()}},
		"a scrape then had 50000 `sluice_route_requests_total` series, 3,000,000 bytes (300,000 with gzip). With no traffic (from the harness, a new connection each): 30.0, 25.0 ms, gzip 40.0, 35.0 ms.",
		"| 1 | sluice | 30,000 | 1.50 | 3.00 | 5.00 | 20.00 | 0 | – |",
		"| 1 | sluice + scraper | 29,000 | 1.50 | 3.20 | 9.00 | 21.00 | 0 | 4 (1 failed), 60.0 / 150.0, 30.0 / 75.0, 300,000 |",
		"| 1 | sluice + control | 29,500 | 1.50 | 3.10 | 6.00 | 20.00 | 0 | 1 (0 failed), 2.0 / 2.0, 0.0 / 0.0, 13 |",
		"Scrapes under traffic: 4 (1 failed), wall time median 60.0 ms, max 150.0 ms (bar: ≤ 100 ms); to the first byte median 30.0 ms, max 75.0 ms;",
		"| scrape 10000 routes × 5 codes: scrape wall time under traffic | ≤ 100 ms | median 60.0 ms, max 150.0 ms (4 scrapes, 1 failed) | no |",
		"| scrape 10000 routes × 5 codes: p99 with a scrape every second | ≤ p99 with the control client | 3.20 ms (control 3.10 ms, none 3.00 ms) | no |",
	)
}
