package config

import (
	"strings"
	"testing"
)

func TestAccessLogSection(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		wantErr    string
		check      func(t *testing.T, l *AccessLog)
	}{
		{"absent keeps the stderr log", "listen: :8080\n", "", func(t *testing.T, l *AccessLog) {
			if l != nil {
				t.Errorf("access_log = %+v, want nil", l)
			}
		}},
		{"defaults", "access_log: {}\n", "", func(t *testing.T, l *AccessLog) {
			if l.Format != "json" || l.Path != "stderr" || l.Sample != 1 || l.QueueLines != 4096 || l.Syslog != nil {
				t.Errorf("defaults: %+v", *l)
			}
		}},
		{"file, text, sampled", "access_log: { format: text, path: /var/log/sluice.log, sample: 0.25, queue_lines: 100 }\n", "", func(t *testing.T, l *AccessLog) {
			if l.Format != "text" || l.Path != "/var/log/sluice.log" || l.Sample != 0.25 || l.QueueLines != 100 {
				t.Errorf("%+v", *l)
			}
		}},
		{"syslog defaults", "access_log: { syslog: { address: 127.0.0.1:514 } }\n", "", func(t *testing.T, l *AccessLog) {
			s := l.Syslog
			if s.Network != "udp" || s.Facility != "local7" || s.Tag != "sluice" || l.Path != "" {
				t.Errorf("%+v %+v", *l, *s)
			}
		}},
		{"syslog unix", "access_log: { syslog: { network: unixgram, address: /dev/log, facility: daemon, tag: gw } }\n", "", nil},
		{"bad format", "access_log: { format: xml }\n", "access_log.format", nil},
		{"sample above 1", "access_log: { sample: 1.5 }\n", "access_log.sample", nil},
		{"negative sample", "access_log: { sample: -0.1 }\n", "access_log.sample", nil},
		{"queue too small", "access_log: { queue_lines: 2 }\n", "access_log.queue_lines", nil},
		{"path and syslog", "access_log: { path: /tmp/x, syslog: { address: 127.0.0.1:514 } }\n", "exclusive with syslog", nil},
		{"syslog without address", "access_log: { syslog: { facility: local0 } }\n", "access_log.syslog.address", nil},
		{"syslog bad network", "access_log: { syslog: { network: sctp, address: 127.0.0.1:514 } }\n", "access_log.syslog.network", nil},
		{"syslog bad facility", "access_log: { syslog: { address: 127.0.0.1:514, facility: local9 } }\n", "access_log.syslog.facility", nil},
		{"syslog udp without port", "access_log: { syslog: { address: 127.0.0.1 } }\n", "access_log.syslog.address", nil},
	} {
		cfg, err := Parse([]byte(tc.yaml), "t.yaml")
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.wantErr)
		case err == nil && tc.check != nil:
			tc.check(t, cfg.AccessLog)
		}
	}
}

func TestTraceSection(t *testing.T) {
	cfg, err := Parse([]byte("trace: { start: true }\n"), "t.yaml")
	if err != nil || !cfg.Trace.Start {
		t.Fatalf("trace.start: %v %+v", err, cfg)
	}
	cfg, err = Parse([]byte("listen: :8080\n"), "t.yaml")
	if err != nil || cfg.Trace.Start {
		t.Fatalf("trace default: %v %+v", err, cfg.Trace)
	}
}

func TestSyslogFacility(t *testing.T) {
	for name, want := range map[string]int{"kern": 0, "daemon": 3, "local0": 16, "local7": 23, "": -1, "local8": -1} {
		if got := SyslogFacility(name); got != want {
			t.Errorf("SyslogFacility(%q) = %d, want %d", name, got, want)
		}
	}
}
