package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gw/sluice/internal/freeport"
)

// TestChurnCell is the Admin API's measurement (not a CI test: set
// SLUICE_CHURN=1; it needs wrk): a gateway with 10,000 routes under wrk for
// SLUICE_CHURN_SECONDS (default 30) without changes, then again with 20
// route changes a second through the Admin API, alternated
// SLUICE_CHURN_ROUNDS times (default 2) and ending without changes; each
// churned cell's p99 is compared with the mean of the quiet cells on
// either side, and each quiet cell with the one before it (the A/A). The
// upstream is a process of its own on CPU 1 with wrk (inside the test
// process, the collector of the Admin API client beside it delayed its
// requests), and the client is a process of its own as well
// (churn_client_test.go), which reports the CPU it used. The test reports
// wrk's p99 and errors for each cell, and the time from each change's 200
// to the changed route answering through the gateway. With
// SLUICE_CHURN_RATE=N the traffic is bench/cmd/rateload's open loop at N
// requests a second
// instead of wrk's closed loop, which saturates the machine: there, any
// CPU a change takes comes out of the requests' queue, whatever its
// priority; at a rate the gateway has the CPU for, the change's niced
// work runs in the idle time and the p99 says whether it still delays
// requests. With SLUICE_CHURN_WINDOWS=W as well, each round is one open
// loop with changes only in the even wall-clock windows of width W, and
// rateload's split of the requests by window (-windows) compares the
// two halves of the run: the machine's drift between two runs, as large
// as the effect measured, cancels out. Work a change leaves for later (the
// write-back, at most a second after it; a collection its garbage
// triggers) may land in the next, quiet window: a W of several seconds
// keeps that share small.
func TestChurnCell(t *testing.T) {
	const changesPerSecond = 20
	if os.Getenv("SLUICE_CHURN") == "" {
		t.Skip("a measurement: SLUICE_CHURN=1 runs it")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Fatal("wrk is needed")
	}
	secs := 30
	fmt.Sscan(os.Getenv("SLUICE_CHURN_SECONDS"), &secs)
	upAddr := startUpstreamProcess(t, "1") // beside wrk, away from the test's own goroutines
	file := filepath.Join(t.TempDir(), "sluice.yaml")
	listen, adminAddr := freeport.Addr(t), freeport.Addr(t)
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nworkers: 1\nadmin: {listen: %s}\nupstreams: [{name: up, targets: [{addr: %s}]}]\nroutes:\n", listen, adminAddr, upAddr)
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, match: {paths: [/svc%d/*]}, upstream: up, policies: [{name: headers, config: {request: {set: {X-Route: r%d}}}}]}\n", i, i, i)
	}
	os.WriteFile(file, []byte(b.String()), 0o600)
	t.Setenv(tokenEnv, testToken)
	p := startProcess(t, "-c", file)
	p.addr = listen
	p.waitReady(t)

	p99 := regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`)
	errsRe := regexp.MustCompile(`(?m)(Socket errors:.*|Non-2xx or 3xx responses: \d+)`)
	reqsRe := regexp.MustCompile(`(?m)^\s+(\d+) requests in`)
	rate := 0.0
	fmt.Sscan(os.Getenv("SLUICE_CHURN_RATE"), &rate)
	var windows time.Duration
	if w := os.Getenv("SLUICE_CHURN_WINDOWS"); w != "" {
		if windows, err = time.ParseDuration(w); err != nil || windows <= 0 || rate <= 0 {
			t.Fatalf("SLUICE_CHURN_WINDOWS=%q: want a positive duration, with SLUICE_CHURN_RATE", w)
		}
	}
	rateload := filepath.Join(t.TempDir(), "rateload")
	if rate > 0 {
		if out, err := exec.Command("go", "build", "-o", rateload, "github.com/sluice-gw/sluice/bench/cmd/rateload").CombinedOutput(); err != nil {
			t.Fatalf("go build rateload: %v\n%s", err, out)
		}
	}
	rateRe := regexp.MustCompile(`requests=(\d+) errors=(\d+) .*p99_us=(\d+) p999_us=(\d+)`)
	windowsRe := regexp.MustCompile(`even_requests=(\d+) even_p99_us=(\d+) even_p999_us=(\d+) odd_requests=(\d+) odd_p99_us=(\d+) odd_p999_us=(\d+)`)
	runOpenLoop := func() (string, string, string) {
		args := []string{"-c", "1", rateload, "-url", "http://" + listen + "/svc5000/x", "-conns", "16",
			"-rate", fmt.Sprint(rate), "-duration", fmt.Sprintf("%ds", secs)}
		if windows > 0 {
			args = append(args, "-windows", windows.String())
		}
		out, err := exec.Command("taskset", args...).CombinedOutput()
		m := rateRe.FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("rateload: %v\n%s", err, out)
		}
		if windows > 0 {
			w := windowsRe.FindSubmatch(out)
			if w == nil {
				t.Fatalf("rateload -windows: %s", out)
			}
			return fmt.Sprintf("%sus in the churn windows, %sus in the quiet ones (p99.9 %sus, %sus; %s and %s requests)", w[2], w[5], w[3], w[6], w[1], w[4]),
				"errors " + string(m[2]), string(m[1])
		}
		return fmt.Sprintf("%sus (p99.9 %sus)", m[3], m[4]), "errors " + string(m[2]), string(m[1])
	}
	runWrk := func() (string, string, string) {
		if rate > 0 {
			return runOpenLoop()
		}
		out, err := exec.Command("taskset", "-c", "1", wrk, "-t1", "-c16", fmt.Sprintf("-d%ds", secs), "--latency", "http://"+listen+"/svc5000/x").CombinedOutput()
		if err != nil {
			t.Fatalf("wrk: %v\n%s", err, out)
		}
		m, n := p99.FindSubmatch(out), reqsRe.FindSubmatch(out)
		if m == nil || n == nil {
			t.Fatalf("wrk output:\n%s", out)
		}
		return string(m[1]), strings.Join(errsRe.FindAllString(string(out), -1), "; "), string(n[1])
	}
	var lags []time.Duration
	var refused, retried, changes int
	var clientCPU time.Duration
	first := 0
	addReport := func(rep churnReport) {
		lags = append(lags, rep.Lags...)
		refused, retried, changes = refused+rep.Refused, retried+rep.Retried, changes+rep.Changes
		clientCPU += rep.CPU
		for _, n := range rep.Notes {
			t.Log("churn client: " + n)
		}
		if rep.Unserved > 0 {
			t.Errorf("%d changes never served", rep.Unserved)
		}
	}
	// Unmeasured: the keep-alive pools fill, and the config writer encodes
	// the starting configuration (live's warm-up) before the first round.
	if out, err := exec.Command("taskset", "-c", "1", wrk, "-t1", "-c16", "-d5s", "http://"+listen+"/svc5000/x").CombinedOutput(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	rounds := 2
	fmt.Sscan(os.Getenv("SLUICE_CHURN_ROUNDS"), &rounds)
	runWithChurn := func() (string, string, string) {
		c := startChurnClient(t, churnSpec{Admin: adminAddr, Gateway: listen, Token: testToken, Rate: changesPerSecond, Windows: windows, First: first})
		q, e, n := runWrk()
		addReport(c.stop(t))
		first += changesPerSecond * (secs + 1) // more than the cell sent: the next cell's paths are new
		return q, e, n
	}
	if windows > 0 {
		for round := 0; round < rounds; round++ {
			q, e, n := runWithChurn()
			t.Logf("round %d, churn %d/s in even windows of %v: p99 %s, %s requests, errors: %q", round, changesPerSecond, windows, q, n, e)
		}
	} else {
		// Quiet and churned cells alternate, quiet ones at both ends: each
		// churned cell is compared with the mean of the quiet ones on either
		// side, which cancels a drift of the machine over the three, and two
		// quiet cells in a row compare as the same cell twice would (A/A):
		// how finely these cells can tell two p99s apart here.
		quiet := []time.Duration{}
		var quietServed []float64
		measureQuiet := func(round int) {
			q, e, n := runWrk()
			t.Logf("round %d, no churn: p99 %s, %s requests, errors: %q", round, q, n, e)
			quiet = append(quiet, wrkDuration(t, q))
			quietServed = append(quietServed, wrkRequests(t, n))
		}
		measureQuiet(0)
		var ratios, served, aa []float64
		for round := 0; round < rounds; round++ {
			q, e, n := runWithChurn()
			t.Logf("round %d, churn %d/s: p99 %s, %s requests, errors: %q", round, changesPerSecond, q, n, e)
			churned, churnedServed := wrkDuration(t, q), wrkRequests(t, n)
			measureQuiet(round + 1)
			before, after := quiet[round], quiet[round+1]
			ratios = append(ratios, float64(churned)/(float64(before+after)/2))
			served = append(served, churnedServed/((quietServed[round]+quietServed[round+1])/2))
			aa = append(aa, float64(after)/float64(before))
		}
		t.Logf("p99 with churn / mean of the quiet cells beside it: %s; median %.3f, higher in %d of %d",
			formatRatios(ratios), medianOf(ratios), countAbove(ratios, 1), len(ratios))
		t.Logf("requests served with churn / mean of the quiet cells beside it: %s; median %.3f", formatRatios(served), medianOf(served))
		t.Logf("A/A, a quiet cell / the quiet cell before it: %s; median %.3f", formatRatios(aa), medianOf(aa))
		if calm := calmRounds(quiet); len(calm) > 0 {
			var calmRatios, calmServed []float64
			for _, r := range calm {
				calmRatios, calmServed = append(calmRatios, ratios[r]), append(calmServed, served[r])
			}
			t.Logf("calm rounds %v (both quiet cells beside them within x%.2f of the run's lowest): p99 ratios %s; median %.3f, higher in %d of %d; requests median %.3f",
				calm, calmSpread, formatRatios(calmRatios), medianOf(calmRatios), countAbove(calmRatios, 1), len(calmRatios), medianOf(calmServed))
		} else {
			t.Logf("no calm round: every churned cell had a disturbed quiet cell beside it")
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) > 0 {
		t.Logf("%d changes (%d refused); the first request after the 200 missed the change %d times; from the 200 to the changed route's answer: p50 %v, p99 %v, max %v",
			len(lags), refused, retried, lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1])
	}
	if changes > 0 {
		t.Logf("the churn client's own CPU: %v per change", (clientCPU / time.Duration(changes)).Round(time.Microsecond))
	}
}

// wrkDuration reads a p99 as wrk or the open loop's line writes it
// ("1.99ms", "850.00us", or "850us (p99.9 ...)").
func wrkDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	f, _, _ := strings.Cut(s, " ")
	d, err := time.ParseDuration(f)
	if err != nil {
		t.Fatalf("p99 %q: %v", s, err)
	}
	return d
}

// calmSpread bounds a calm round's quiet neighbours: both within this
// factor of the run's lowest quiet cell. Undisturbed quiet cells of one
// run have spread up to x1.7 here (1.51-2.52 ms); a disturbance from
// outside the machine lifts a 2 ms p99 to 4-40 ms for a cell or several,
// and a churned cell beside such a cell is compared with noise.
const calmSpread = 1.75

// calmRounds returns the rounds whose two quiet cells (quiet[r] and
// quiet[r+1]) look undisturbed by that rule. It is a reading aid, not
// the bar: the cell reports every round, calm or not.
func calmRounds(quiet []time.Duration) []int {
	if len(quiet) < 2 {
		return nil
	}
	lowest := slices.Min(quiet)
	var calm []int
	for r := 0; r+1 < len(quiet); r++ {
		if float64(max(quiet[r], quiet[r+1])) <= calmSpread*float64(lowest) {
			calm = append(calm, r)
		}
	}
	return calm
}

// wrkRequests reads a cell's request count ("1025363").
func wrkRequests(t *testing.T, s string) float64 {
	t.Helper()
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("requests %q: %v", s, err)
	}
	return n
}

func formatRatios(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, ", ")
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func countAbove(xs []float64, v float64) int {
	n := 0
	for _, x := range xs {
		if x > v {
			n++
		}
	}
	return n
}

// TestCalmRounds: a round is calm when both quiet cells beside it are
// within calmSpread of the run's lowest quiet cell, so one disturbed
// quiet cell takes out the two rounds it borders.
func TestCalmRounds(t *testing.T) {
	ms := func(xs ...float64) []time.Duration {
		d := make([]time.Duration, len(xs))
		for i, x := range xs {
			d[i] = time.Duration(x * float64(time.Millisecond))
		}
		return d
	}
	for _, c := range []struct {
		quiet []time.Duration
		want  []int
	}{
		{ms(2.0), nil},
		{ms(2.0, 2.2, 1.6, 2.5), []int{0, 1, 2}},    // 2.5 <= 1.75 x 1.6
		{ms(2.0, 2.2, 12.0, 2.1, 1.9), []int{0, 3}}, // the 12 ms cell borders rounds 1 and 2
		{ms(1.6, 2.9, 2.0), nil},                    // 2.9 > 1.75 x 1.6 = 2.8: both rounds border it
		{ms(30, 40, 35), []int{0, 1}},               // a run disturbed throughout is judged against itself
	} {
		if got := calmRounds(c.quiet); !slices.Equal(got, c.want) {
			t.Errorf("calmRounds(%v) = %v, want %v", c.quiet, got, c.want)
		}
	}
}
