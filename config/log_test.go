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
			if s.Network != "udp" || s.Facility != "local7" || s.Tag != "sluice" || s.Format != SyslogRFC5424 || l.Path != "" {
				t.Errorf("%+v %+v", *l, *s)
			}
		}},
		{"syslog unix", "access_log: { syslog: { network: unixgram, address: /dev/log, facility: daemon, tag: gw } }\n", "", nil},
		{"bad format", "access_log: { format: xml }\n", "access_log.format", nil},
		{"fields", "access_log: { fields: [status, path, time] }\n", "", func(t *testing.T, l *AccessLog) {
			if len(l.Fields) != 3 || l.Fields[0] != "status" || l.Fields[2] != "time" {
				t.Errorf("fields: %q", l.Fields)
			}
		}},
		{"unknown field", "access_log: { fields: [status, latency] }\n", `access_log.fields[1]: must be one of time, request_id`, nil},
		{"field twice", "access_log: { fields: [status, path, status] }\n", `access_log.fields[2]: "status" is listed twice`, nil},
		{"no field", "access_log: { fields: [] }\n", "access_log.fields: must name at least one field", nil},
		{"fields of the text line", "access_log: { format: text, fields: [status] }\n", "access_log.fields: are for format json", nil},
		{"sample above 1", "access_log: { sample: 1.5 }\n", "access_log.sample", nil},
		{"negative sample", "access_log: { sample: -0.1 }\n", "access_log.sample", nil},
		{"queue too small", "access_log: { queue_lines: 2 }\n", "access_log.queue_lines", nil},
		{"path and syslog", "access_log: { path: /tmp/x, syslog: { address: 127.0.0.1:514 } }\n", "exclusive with syslog", nil},
		{"syslog without address", "access_log: { syslog: { facility: local0 } }\n", "access_log.syslog.address", nil},
		{"syslog bad network", "access_log: { syslog: { network: sctp, address: 127.0.0.1:514 } }\n", "access_log.syslog.network", nil},
		{"syslog bad facility", "access_log: { syslog: { address: 127.0.0.1:514, facility: local9 } }\n", "access_log.syslog.facility", nil},
		{"syslog udp without port", "access_log: { syslog: { address: 127.0.0.1 } }\n", "access_log.syslog.address", nil},
		{"syslog rfc3164", "access_log: { syslog: { address: 127.0.0.1:514, format: rfc3164 } }\n", "", nil},
		{"syslog bad format", "access_log: { syslog: { address: 127.0.0.1:514, format: cef } }\n", "access_log.syslog.format", nil},
		{"syslog tag with a space", "access_log: { syslog: { address: 127.0.0.1:514, tag: \"my gw\" } }\n", "access_log.syslog.tag", nil},
		{"syslog tag too long", "access_log: { syslog: { address: 127.0.0.1:514, tag: " + strings.Repeat("t", 49) + " } }\n", "access_log.syslog.tag", nil},
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

// routeLogYAML is a config with one route whose log field is field.
func routeLogYAML(field string) string {
	return "upstreams: [ { name: up, targets: [ { addr: 127.0.0.1:9 } ] } ]\nroutes:\n  - name: r\n    upstream: up\n    log: " + field + "\n"
}

func TestRouteLogField(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		want        RouteLog
		wantErr     string
	}{
		{"off", "{ access: off }", RouteLog{Access: LogAccessOff}, ""},
		{"on", "{ access: on }", RouteLog{Access: LogAccessOn}, ""},
		{"YAML false is off", "{ access: false }", RouteLog{Access: LogAccessOff}, ""},
		{"JSON-style", `{ "access": "off" }`, RouteLog{Access: LogAccessOff}, ""},
		{"sampled", "{ sample: 0.1 }", RouteLog{Sample: 0.1}, ""},
		{"sampled whole", "{ sample: 1 }", RouteLog{Sample: 1}, ""},
		{"on and sampled", "{ access: on, sample: 0.5 }", RouteLog{Access: LogAccessOn, Sample: 0.5}, ""},
		{"bad access", "{ access: maybe }", RouteLog{}, `t.yaml:5: routes[0].log: access: must be on or off, got "maybe"`},
		{"sample 0", "{ sample: 0 }", RouteLog{}, "routes[0].log: sample: must be > 0 and <= 1, got 0 (use access: off)"},
		{"sample above 1", "{ sample: 1.5 }", RouteLog{}, "routes[0].log: sample: must be > 0 and <= 1, got 1.5"},
		{"sample not a number", "{ sample: often }", RouteLog{}, "routes[0].log: sample: must be a number"},
		{"off and sampled", "{ access: off, sample: 0.1 }", RouteLog{}, "routes[0].log: sample: a route with access: off logs nothing to sample"},
		{"unknown field", "{ acess: off }", RouteLog{}, `routes[0].log: unknown field "acess" (known: access, sample)`},
		{"repeated field", "{ access: off, access: on }", RouteLog{}, "routes[0].log"},
		{"not a mapping", "off", RouteLog{}, "routes[0].log: must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(routeLogYAML(tc.field)), "t.yaml")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Routes.At(0).Log; got == nil || *got != tc.want {
				t.Fatalf("log = %+v, want %+v", got, tc.want)
			}
		})
	}
	cfg, err := Parse([]byte("upstreams: [ { name: up, targets: [ { addr: 127.0.0.1:9 } ] } ]\nroutes: [ { name: r, upstream: up } ]\n"), "t.yaml")
	if err != nil || cfg.Routes.At(0).Log != nil || cfg.Routes.At(0).Log.Off() {
		t.Fatalf("a route without log: %v %+v", err, cfg.Routes.At(0).Log)
	}
}

// TestRouteLogThroughEdits checks the field through an Admin API edit
// (JSON) and its YAML encoding, which must read back the same.
func TestRouteLogThroughEdits(t *testing.T) {
	cfg, err := Parse([]byte(routeLogYAML("{ sample: 0.25 }")), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := cfg.PutRoute("r", []byte(`{"upstream": "up", "log": {"access": "off"}}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if !next.Routes.At(0).Log.Off() {
		t.Fatalf("after the edit: %+v", next.Routes.At(0).Log)
	}
	if _, _, err := cfg.PutRoute("r", []byte(`{"upstream": "up", "log": {"access": "loud"}}`), ""); err == nil || !strings.Contains(err.Error(), "routes[0].log") {
		t.Fatalf("a bad edit: %v", err)
	}
	out, err := EncodeYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "encoded.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if l := back.Routes.At(0).Log; l == nil || *l != (RouteLog{Sample: 0.25}) {
		t.Fatalf("read back %+v from\n%s", l, out)
	}
	off := *cfg
	off.Routes = Routes(&Route{Name: "r", Upstream: "up", Log: &RouteLog{Access: LogAccessOff}})
	out, _ = EncodeYAML(&off)
	if back, err := Parse(out, "encoded.yaml"); err != nil || !back.Routes.At(0).Log.Off() {
		t.Fatalf("access: off read back as %v %+v from\n%s", err, back, out)
	}
}

func TestAdminMetricsConsumerLabel(t *testing.T) {
	cfg, err := Parse([]byte("admin: { metrics_consumer_label: true }\n"), "t.yaml")
	if err != nil || !cfg.Admin.MetricsConsumerLabel {
		t.Fatalf("%v %+v", err, cfg.Admin)
	}
	if _, err := Parse([]byte("admin: { metrics_consumer_label: yes please }\n"), "t.yaml"); err == nil {
		t.Fatal("a non-boolean was accepted")
	}
}
