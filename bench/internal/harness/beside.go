package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// BesideClient is a client run beside wrk during a measured run: the scrape
// scenario's scraper (Sluice's /metrics) or its control (the upstream, the
// same way), one bench/cmd/poller process on the load CPUs.
type BesideClient struct {
	Name  string // the poller's process name: scraper, control
	URL   string
	Every time.Duration
	// OddURL, when set, makes the client fetch URL at the start of each
	// even wall-clock window of width Window and OddURL at the start of
	// each odd one (poller -align -odd-url), for a run whose open loop
	// splits its latencies by the same windows (WrkSpec.Windows). Every
	// is then unused.
	OddURL string
	Window time.Duration
}

// pollerArgs is the poller's command line for c.
func (c *BesideClient) pollerArgs(bin string) []string {
	args := []string{bin, "-url", c.URL, "-first", besideFirst.String(), "-gzip"}
	if c.OddURL != "" {
		return append(args, "-every", (2 * c.Window).String(), "-align", "-odd-url", c.OddURL)
	}
	return append(args, "-every", c.Every.String())
}

// besideFirst is how long the poller waits before its first fetch, and
// besideSettle how long measure waits after starting it before starting
// wrk: the poller's own start-up (a Go program's, on wrk's CPU) then falls
// before wrk's window, and its fetches at first, first+every... fall inside
// it, the last one a little before wrk stops (every ≥ 1 s, run ≥ 1 s).
const (
	besideFirst  = time.Second
	besideSettle = 250 * time.Millisecond
)

// Fetch is one request the poller made.
type Fetch struct {
	WallMicros int64  `json:"wall_us"` // from sending the request to the body's last byte
	TTFBMicros int64  `json:"ttfb_us"` // to the response's first byte
	Status     int    `json:"status"`  // 0 for a transport error
	Bytes      int64  `json:"bytes"`   // the body as received (compressed when Encoding is gzip)
	Encoding   string `json:"enc,omitempty"`
	Err        string `json:"err,omitempty"`
	Window     string `json:"window,omitempty"` // even or odd, from a client with an OddURL
}

// BesideRun is what the poller did during one measured run.
type BesideRun struct {
	Client  string  `json:"client"`
	Fetches []Fetch `json:"fetches"`
}

// startBeside starts the poller for c; the returned function stops it and
// reads its fetches.
func (r *Runner) startBeside(c *BesideClient, round int) (func() (*BesideRun, error), error) {
	proc, err := r.sup.Start(StartOpts{
		Name: fmt.Sprintf("poller-%s-r%d", c.Name, round),
		CPUs: r.cfg.LoadCPUs,
		// One P, like the load generator it shares the CPU with: a
		// Prometheus server is not on the gateway's host either, so the
		// client side is kept as small as it can be.
		Env:  []string{"GOMAXPROCS=1"},
		Argv: c.pollerArgs(r.cfg.PollerBin),
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(besideSettle)
	return func() (*BesideRun, error) {
		exited, why := proc.Exited()
		proc.Stop(2 * time.Second)
		r.sup.Forget(proc)
		b, err := os.ReadFile(proc.LogPath)
		if err != nil {
			return nil, err
		}
		if exited {
			return nil, fmt.Errorf("poller %s exited during the run: %v: %s", c.Name, why, proc.LogTail(300))
		}
		return &BesideRun{Client: c.Name, Fetches: ParseFetchLines(b)}, nil
	}, nil
}

// ParseFetchLines reads the poller's FETCH and FETCH-ERROR lines (see
// bench/cmd/poller); anything else (a Go runtime message) is skipped.
func ParseFetchLines(b []byte) []Fetch {
	var out []Fetch
	for _, line := range strings.Split(string(b), "\n") {
		kind, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		if kind != "FETCH" && kind != "FETCH-ERROR" {
			continue
		}
		var f Fetch
		if kind == "FETCH-ERROR" {
			// err= is last and quoted; it may hold spaces.
			if i := strings.Index(rest, " err="); i >= 0 {
				if msg, err := strconv.Unquote(rest[i+len(" err="):]); err == nil {
					f.Err = msg
				} else {
					f.Err = rest[i+len(" err="):]
				}
				rest = rest[:i]
			}
			if f.Err == "" {
				f.Err = "unknown"
			}
		}
		for _, field := range strings.Fields(rest) {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "wall_us":
				f.WallMicros, _ = strconv.ParseInt(v, 10, 64)
			case "ttfb_us":
				f.TTFBMicros, _ = strconv.ParseInt(v, 10, 64)
			case "status":
				f.Status, _ = strconv.Atoi(v)
			case "bytes":
				f.Bytes, _ = strconv.ParseInt(v, 10, 64)
			case "enc":
				f.Encoding = v
			case "window":
				f.Window = v
			}
		}
		out = append(out, f)
	}
	return out
}

// OK reports whether the fetch got a 200 and its whole body.
func (f Fetch) OK() bool { return f.Err == "" && f.Status == 200 }
