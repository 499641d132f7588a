//go:build linux

package admin

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// gatherValues gathers c alone: family name to its one value.
func gatherValues(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		m := f.GetMetric()[0]
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			out[f.GetName()] = m.GetCounter().GetValue()
		default:
			out[f.GetName()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestProcessCollectorMatchesClientGolang: the hand-read process_*
// families are client_golang's, with the same values (within what moves
// between two reads).
func TestProcessCollectorMatchesClientGolang(t *testing.T) {
	want := gatherValues(t, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	got := gatherValues(t, newProcessCollector())
	if len(got) != len(want) {
		t.Errorf("families %v, want %v", got, want)
	}
	for name, w := range want {
		g, ok := got[name]
		tolerance := 0.0
		switch name {
		case "process_cpu_seconds_total", "process_start_time_seconds":
			tolerance = 1
		case "process_resident_memory_bytes", "process_virtual_memory_bytes":
			tolerance = 0.2 * w
		case "process_open_fds":
			tolerance = 2
		case "process_network_receive_bytes_total", "process_network_transmit_bytes_total":
			tolerance = math.Max(1e6, 0.1*w) // the namespace's traffic moves meanwhile
		}
		if !ok || math.Abs(g-w) > tolerance {
			t.Errorf("%s = %v, client_golang says %v", name, g, w)
		}
	}
}
