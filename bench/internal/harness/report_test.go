package harness

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	nginx := &PeerResult{Peer: "nginx", RPS: 40000, P50Micros: 1000, P99Micros: 2000, CPUPerReq: 10, UserPerReq: 3, SysPerReq: 7, RSSBytes: 8 << 20, AllocsPerReq: -1, Requests: 600000, ReusePercent: 100}
	sluice := &PeerResult{Peer: "sluice", RPS: 48000, P50Micros: 900, P99Micros: 1800, CPUPerReq: 7.5, UserPerReq: 2, SysPerReq: 5.5, RSSBytes: 4 << 20, AllocsPerReq: 0.05, Requests: 720000, UpstreamOpened: 1, ReusePercent: 99.9998}
	return &Report{
		Started: time.Date(2026, 11, 22, 3, 30, 0, 0, time.UTC), Finished: time.Date(2026, 11, 22, 3, 40, 0, 0, time.UTC),
		Config: ConfigSummary{Rounds: 3, Duration: "5s", IdleConns: 10000},
		Cells: []*Cell{{
			Scenario: "plain", Name: "13 B body, 64 conns", Reference: "nginx", Peers: []*PeerResult{nginx, sluice},
			Strace: []StraceRun{{Peer: "nginx", PerRequest: 5.1}, {Peer: "sluice", PerRequest: 4.0}},
		}},
		Idle: []IdleResult{{Peer: "nginx", Held: 10000, BytesPerConn: 1024}, {Peer: "sluice", Held: 10000, BytesPerConn: 512}},
	}
}

func TestMarkdownShowsRatiosAgainstTheReference(t *testing.T) {
	wantMarkdown(t, sampleReport(),
		"| nginx | 40,000 | 1.00 | 2.00 | 10.00 (3.00 + 7.00) |",
		"| sluice | 48,000 (1.20×) | 0.90 (0.90×) | 1.80 (0.90×) | 7.50 (2.00 + 5.50) (0.75×) |",
		"- sluice: 4.00 (0.78×)",
		"| sluice | 10000 (0) | 0 | 0.0 | 0.0 | 0.50 (0.50×) |",
		"| plain 13 B body, 64 conns: CPU µs/req | ≤ 0.8× nginx | 0.75× | yes |",
		"| plain 13 B body, 64 conns: syscalls/req | ≤ 4.3 | 4.00 | yes |",
	)
}

// wantMarkdown renders rep and fails the test for each line it lacks; it
// returns the markdown.
func wantMarkdown(t *testing.T, rep *Report, lines ...string) string {
	t.Helper()
	var buf bytes.Buffer
	rep.Markdown(&buf)
	md := buf.String()
	for _, want := range lines {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	return md
}

func TestGoalsMissWhenSluiceIsSlower(t *testing.T) {
	rep := sampleReport()
	rep.Cells[0].Peers[1].RPS = 41000 // 1.025× nginx: below the 1.15× goal
	for _, g := range rep.Goals() {
		if strings.HasSuffix(g.Name, "req/s") {
			if g.Met {
				t.Fatalf("req/s goal met at %s", g.Measured)
			}
			return
		}
	}
	t.Fatal("no req/s goal")
}

func TestGoalsEmptyWithoutSluice(t *testing.T) {
	rep := sampleReport()
	rep.Cells[0].Peers = rep.Cells[0].Peers[:1]
	if g := rep.Goals(); len(g) != 0 {
		t.Fatalf("goals without Sluice: %+v", g)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}
