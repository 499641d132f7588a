package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ProcStat
	}{
		{
			name: "nginx worker",
			in:   "1234 (nginx) S 1233 1233 1233 0 -1 4194624 1000 0 0 0 250 730 0 0 20 0 1 0 5000 123456789 2400 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0\n",
			want: ProcStat{PID: 1234, PPID: 1233, UserTicks: 250, SysTicks: 730, RSSPages: 2400},
		},
		{
			name: "name with spaces and parentheses",
			in:   "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 3 4 0 0 20 0 3 0 1 100 50 0",
			want: ProcStat{PID: 77, PPID: 1, UserTicks: 3, SysTicks: 4, RSSPages: 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcStat([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "x (y) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1 0", "1 (x S 1"} {
		if _, err := ParseProcStat([]byte(bad)); !errors.Is(err, ErrBadProcStat) {
			t.Errorf("ParseProcStat(%q) err = %v, want ErrBadProcStat", bad, err)
		}
	}
}

func TestReadTreeSeesThisProcess(t *testing.T) {
	u, err := ReadTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(u.PIDs) == 0 || u.PIDs[0] != os.Getpid() {
		t.Fatalf("PIDs = %v, want this process first", u.PIDs)
	}
	if u.RSSBytes == 0 {
		t.Fatal("RSS of a running test process is 0")
	}
}

func TestSubConvertsTicks(t *testing.T) {
	d := Sub(TreeUsage{UserTicks: 100, SysTicks: 50}, TreeUsage{UserTicks: 130, SysTicks: 80, RSSBytes: 4096}, 100)
	if d.UserMicros != 300_000 || d.SysMicros != 300_000 || d.RSSBytes != 4096 {
		t.Fatalf("Sub = %+v", d)
	}
	// A child exiting between readings must not wrap around.
	if d := Sub(TreeUsage{UserTicks: 100}, TreeUsage{UserTicks: 90}, 100); d.UserMicros != 0 {
		t.Fatalf("Sub with a shrinking tree = %+v", d)
	}
}

// straceSample is real `strace -c -f` output; errors is blank on most rows.
const straceSample = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.12    0.512345           2    200000           writev
 30.00    0.400000           2    200000     50000 read
 20.00    0.200000           1    150000           epoll_wait
  9.88    0.100000          10     10000           sendfile
------ ----------- ----------- --------- --------- ----------------
100.00    1.212345           2    560000     50000 total
`

func TestParseStraceSummary(t *testing.T) {
	s, err := ParseStraceSummary(straceSample)
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls != 560000 || s.Errors != 50000 {
		t.Fatalf("total calls %d errors %d, want 560000 50000", s.Calls, s.Errors)
	}
	if s.BySyscall["read"] != 200000 || s.BySyscall["sendfile"] != 10000 || len(s.BySyscall) != 4 {
		t.Fatalf("BySyscall = %v", s.BySyscall)
	}
	if got := strings.Join(s.Top(3), " "); got != "read=200000 writev=200000 epoll_wait=150000" {
		t.Fatalf("Top(3) = %q", got)
	}
	if _, err := ParseStraceSummary("strace: Process 12 attached\n"); !errors.Is(err, ErrNoStraceTotal) {
		t.Fatalf("no table: err = %v, want ErrNoStraceTotal", err)
	}
}

func TestParseWrkOutput(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:8080/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   1.00ms  200.00us   5.00ms   90.00%
  100000 requests in 5.00s, 12.00MB read
Requests/sec:  20000.00
SLUICE-BENCH {"duration_us":5000000,"requests":100000,"bytes":12582912,"err_connect":0,"err_read":1,"err_write":0,"err_status":2,"err_timeout":0,"lat_mean_us":1000.5,"lat_p50_us":950,"lat_p90_us":1200,"lat_p99_us":3000,"lat_p999_us":4500,"lat_max_us":5000}
`
	r, err := ParseWrkOutput([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 100000 || r.LatP99Micros != 3000 || r.Errors() != 3 || r.RPS() != 20000 {
		t.Fatalf("report = %+v (errors %d, rps %f)", r, r.Errors(), r.RPS())
	}
	if _, err := ParseWrkOutput([]byte("unable to connect to 127.0.0.1:1 Connection refused\n")); !errors.Is(err, ErrNoWrkReport) {
		t.Fatalf("err = %v, want ErrNoWrkReport", err)
	}
}

func TestParseStubStatusAccepts(t *testing.T) {
	body := "Active connections: 3 \nserver accepts handled requests\n 1045 1045 988321 \nReading: 0 Writing: 1 Waiting: 2 \n"
	n, err := ParseStubStatusAccepts([]byte(body))
	if err != nil || n != 1045 {
		t.Fatalf("accepts = %d, %v; want 1045", n, err)
	}
	if _, err := ParseStubStatusAccepts([]byte("<html>404</html>")); err == nil {
		t.Fatal("no error for a page without the accepts line")
	}
}

func TestParsePromCounter(t *testing.T) {
	body := []byte("# HELP go_memstats_mallocs_total Total number of heap objects allocated.\n" +
		"# TYPE go_memstats_mallocs_total counter\n" +
		"go_memstats_mallocs_total_extra 1\n" +
		"go_memstats_mallocs_total 1.234567e+06\n" +
		"sluice_requests_total{route=\"a\"} 5\n")
	if n, ok := ParsePromCounter(body, "go_memstats_mallocs_total"); !ok || n != 1234567 {
		t.Fatalf("mallocs = %d, %v; want 1234567", n, ok)
	}
	if _, ok := ParsePromCounter(body, "sluice_requests_total"); ok {
		t.Fatal("a labelled sample is not the unlabelled counter")
	}
}

func TestParseStubStatusRequests(t *testing.T) {
	body := "Active connections: 3 \nserver accepts handled requests\n 1045 1045 988321 \nReading: 0 Writing: 1 Waiting: 2 \n"
	st, err := ParseStubStatus([]byte(body))
	if err != nil || st.Accepts != 1045 || st.Requests != 988321 {
		t.Fatalf("stub_status = %+v, %v", st, err)
	}
}

func TestParseRateloadOutput(t *testing.T) {
	r, err := ParseRateloadOutput([]byte("requests=100000 errors=3 duration_us=10000000 p50_us=310 p90_us=540 p99_us=1210 p999_us=2900 max_us=4800 late_p50_us=4 late_p99_us=38 late_max_us=900\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := WrkReport{Requests: 100000, ErrRead: 3, DurationMicros: 10000000, LatP50Micros: 310, LatP90Micros: 540, LatP99Micros: 1210, LatP999Micros: 2900, LatMaxMicros: 4800,
		ClientLateP50Micros: 4, ClientLateP99Micros: 38, ClientLateMaxMicros: 900}
	if r != want {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	if r.RPS() != 10000 || r.Errors() != 3 {
		t.Fatalf("rps %v errors %d", r.RPS(), r.Errors())
	}
	// The line of an older rateload (no duration, no p99.9) is refused,
	// not read as zeros.
	if _, err := ParseRateloadOutput([]byte("requests=1 errors=0 p50_us=1 p90_us=1 p99_us=1 max_us=1\n")); err == nil {
		t.Fatal("a line without duration_us and p999_us was accepted")
	}
	// Nor is the line of the rateload before late_* (its latencies include
	// the client's own lateness).
	if _, err := ParseRateloadOutput([]byte("requests=1 errors=0 duration_us=1 p50_us=1 p90_us=1 p99_us=1 p999_us=1 max_us=1\n")); err == nil {
		t.Fatal("a line without late_* was accepted")
	}
	// rateload -windows: the window fields come all or none.
	line := "requests=100 errors=0 duration_us=1000000 p50_us=310 p90_us=540 p99_us=1210 p999_us=2900 max_us=4800 late_p50_us=4 late_p99_us=38 late_max_us=900"
	r, err = ParseRateloadOutput([]byte(line + " even_requests=50 even_p99_us=1300 even_p999_us=3000 odd_requests=50 odd_p99_us=1100 odd_p999_us=2500\n"))
	if want := (WindowsReport{50, 1300, 3000, 50, 1100, 2500}); err != nil || r.Windows == nil || *r.Windows != want {
		t.Fatalf("with windows: %+v, %v; want %+v", r.Windows, err, want)
	}
	if _, err := ParseRateloadOutput([]byte(line + " even_requests=50 even_p99_us=1300 even_p999_us=3000\n")); err == nil {
		t.Fatal("a line with half the window fields was accepted")
	}
	if _, err := ParseRateloadOutput([]byte("requests=x errors=0 duration_us=1 p50_us=1 p90_us=1 p99_us=1 p999_us=1 max_us=1 late_p50_us=1 late_p99_us=1 late_max_us=1")); err == nil {
		t.Fatal("a bad number was accepted")
	}
	// A key twice does not make up for a missing one.
	if _, err := ParseRateloadOutput([]byte("requests=1 requests=1 duration_us=1 p50_us=1 p90_us=1 p99_us=1 p999_us=1 max_us=1 late_p50_us=1 late_p99_us=1 late_max_us=1")); err == nil {
		t.Fatal("a line without errors= was accepted")
	}
}

// rateloadLine prints r as rateload does (bench/cmd/rateload/report.go).
func rateloadLine(r WrkReport) string {
	return fmt.Sprintf("requests=%d errors=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d late_p50_us=%d late_p99_us=%d late_max_us=%d\n",
		r.Requests, r.ErrRead, r.DurationMicros, r.LatP50Micros, r.LatP90Micros, r.LatP99Micros, r.LatP999Micros, r.LatMaxMicros,
		r.ClientLateP50Micros, r.ClientLateP99Micros, r.ClientLateMaxMicros)
}

// FuzzParseRateloadOutput: whatever the parser accepts names every field
// (none is read as a zero it did not see) and prints back to a line that
// parses to the same report.
func FuzzParseRateloadOutput(f *testing.F) {
	f.Add([]byte("requests=100000 errors=3 duration_us=10000000 p50_us=310 p90_us=540 p99_us=1210 p999_us=2900 max_us=4800 late_p50_us=4 late_p99_us=38 late_max_us=900\n"))
	f.Add([]byte("requests=1 errors=0 p50_us=1 p90_us=1 p99_us=1 max_us=1\n"))
	f.Add([]byte("go: downloading x\nrequests=1 requests=2 errors=0 duration_us=1 p50_us=1 p90_us=1 p99_us=-1 p999_us=1 max_us=1 late_p50_us=0 late_p99_us=1 late_max_us=1"))
	keys := []string{"requests=", "errors=", "duration_us=", "p50_us=", "p90_us=", "p99_us=", "p999_us=", "max_us=", "late_p50_us=", "late_p99_us=", "late_max_us="}
	f.Fuzz(func(t *testing.T, out []byte) {
		r, err := ParseRateloadOutput(out)
		if err != nil {
			return
		}
		for _, k := range keys {
			if !bytes.Contains(out, []byte(k)) {
				t.Fatalf("accepted %q without %s", out, k)
			}
		}
		again, err := ParseRateloadOutput([]byte(rateloadLine(r)))
		if err != nil || again != r {
			t.Fatalf("%q: %+v, printed and parsed again: %+v, %v", out, r, again, err)
		}
	})
}
