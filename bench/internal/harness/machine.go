package harness

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Machine describes where the numbers were taken.
type Machine struct {
	CPUModel     string            `json:"cpu_model"`
	CPUs         int               `json:"cpus"`
	Kernel       string            `json:"kernel"`
	MemTotal     string            `json:"mem_total"`
	Versions     map[string]string `json:"versions"`
	LoadAvgStart string            `json:"loadavg_start"`
	LoadAvgEnd   string            `json:"loadavg_end"`
}

// ReadMachine reads /proc and asks each tool for its version.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Versions: map[string]string{}, LoadAvgStart: readLoadAvg()}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	m.MemTotal = procField("/proc/meminfo", "MemTotal")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	for name, argv := range map[string][]string{
		"nginx":            {"nginx", "-v"},
		"haproxy":          {"haproxy", "-v"},
		"wrk":              {"wrk", "-v"},
		"go":               {"go", "version"},
		"lua-nginx-module": {"dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-http-lua"},
		"varnish":          {"varnishd", "-V"},
		"redis":            {"redis-server", "--version"},
	} {
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		m.Versions[name] = line
	}
	return m
}

func readLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
