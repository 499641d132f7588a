package harness

import (
	"reflect"
	"testing"
)

func TestParseProcStatCPUs(t *testing.T) {
	in := "cpu  100 0 50 1000 5 0 3 2 0 0\ncpu0 60 0 30 400 5 0 2 1 0 0\ncpu1 40 0 20 600 0 0 1 1 0 0\nintr 12345\n"
	got := ParseProcStatCPUs([]byte(in))
	want := map[int]CPUTimes{
		0: {Busy: 60 + 30 + 2 + 1, Steal: 1, Total: 93 + 400 + 5},
		1: {Busy: 40 + 20 + 1 + 1, Steal: 1, Total: 62 + 600},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0,2": {0, 2}, "0-2": {0, 1, 2}, "1, 3-4": {1, 3, 4}, "x": nil} {
		if got := ParseCPUList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("ParseCPUList(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBusyPercent(t *testing.T) {
	before := map[int]CPUTimes{0: {Busy: 100, Steal: 0, Total: 200}, 1: {Busy: 0, Total: 100}}
	after := map[int]CPUTimes{0: {Busy: 175, Steal: 10, Total: 300}, 1: {Busy: 50, Total: 200}}
	if busy, steal := busyPercent(before, after, []int{0}); busy != 75 || steal != 10 {
		t.Fatalf("cpu0: busy %v steal %v, want 75 10", busy, steal)
	}
	if busy, _ := busyPercent(before, after, []int{0, 1}); busy != 62.5 {
		t.Fatalf("cpu0+1: busy %v, want 62.5", busy)
	}
}
