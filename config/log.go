package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Access-log formats accepted by AccessLog.Format.
const (
	LogFormatText = "text" // one human-readable line (the stderr log's format)
	LogFormatJSON = "json" // one JSON object per line
)

// AccessLog is the top-level "access_log:" section: one line per request,
// written off the event loops. Absent (nil), the gateway keeps its stderr
// request log, whose lines log_level selects (debug: every request; info and
// warn: failed ones; error: none).
//
// Present, every request is logged (successes possibly sampled) to one
// destination: stderr, stdout, a file, or syslog.
type AccessLog struct {
	// Format is text or json. Default "json".
	Format string `yaml:"format"`
	// Path is "stderr", "stdout" or a file name (appended to, created
	// 0644, reopened on SIGUSR1 for logrotate). Default "stderr".
	// Exclusive with Syslog.
	Path string `yaml:"path"`
	// Syslog sends each line as one syslog message instead. Default nil.
	Syslog *Syslog `yaml:"syslog,omitempty"`
	// Sample is the fraction of successful requests (status below 400,
	// no failure) logged, in (0, 1]; failed requests are always logged.
	// Default 1: every request.
	Sample float64 `yaml:"sample"`
	// Fields are the keys of a JSON line, in the order given, from
	// AccessLogFields. Default: all of them, in that order. json only.
	Fields []string `yaml:"fields,omitempty"`
	// QueueLines bounds the lines each worker may have waiting for the
	// writer, and with them the bytes (QueueLines x 512, rounded up to a
	// power of two: 2 MiB by default); past either, lines are dropped and
	// counted (sluice_access_log_dropped_total), never waited for.
	// 16..1048576. Default 4096.
	QueueLines int `yaml:"queue_lines"`
}

// Syslog formats accepted by Syslog.Format.
const (
	SyslogRFC5424 = "rfc5424" // RFC 5424 messages; octet-counted framing on stream sockets (RFC 6587)
	SyslogRFC3164 = "rfc3164" // Go's log/syslog: the BSD format, newline-ended on stream sockets
)

// Syslog is where access-log lines go as syslog messages, one message per
// line.
type Syslog struct {
	// Network is udp, tcp, unix or unixgram. Default "udp".
	Network string `yaml:"network"`
	// Address is host:port for udp and tcp, a socket path for unix and
	// unixgram ("/dev/log"). Required.
	Address string `yaml:"address"`
	// Facility is kern, user, mail, daemon, auth, syslog, lpr, news, uucp,
	// cron, authpriv, ftp or local0..local7. Default "local7".
	Facility string `yaml:"facility"`
	// Tag names the program in each message (RFC 5424's APP-NAME, at most
	// 48 printable ASCII characters). Default "sluice".
	Tag string `yaml:"tag"`
	// Format is rfc5424 (each message "<PRI>1 TIMESTAMP HOSTNAME TAG PID
	// access - LINE"; on tcp and unix sockets each is preceded by its
	// length, RFC 6587 octet counting) or rfc3164 (Go's log/syslog: the
	// BSD format, newline-ended). Default "rfc5424".
	Format string `yaml:"format"`
}

// Trace is the top-level "trace:" section: W3C trace context. A request's
// traceparent and tracestate fields always pass to the upstream unchanged,
// and the access log carries the trace id.
type Trace struct {
	// Start makes the gateway start a trace for a request that comes
	// without a valid traceparent: it sends one upstream (a new trace id
	// and span id, sampled flag off) and logs its trace id. Default false.
	Start bool `yaml:"start"`
}

// SyslogFacilities lists the facility names Syslog.Facility accepts, in
// syslog's numbering order (kern is 0, local7 is 23).
var SyslogFacilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "", "", "", "",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// AccessLogFields are the keys a JSON access-log line may have, in the
// order of the default line.
var AccessLogFields = []string{"time", "request_id", "client_ip", "method", "host", "path", "query",
	"protocol", "status", "bytes_in", "bytes_out", "duration_ms", "upstream_ms", "route", "upstream",
	"upstream_addr", "tries", "consumer", "failure", "user_agent", "referer", "trace_id"}

const (
	defaultLogQueueLines = 4096
	defaultSyslogTag     = "sluice"
)

// logFields checks access_log.fields: known keys, each once, json only.
func (v *validator) logFields(path string, l *AccessLog) {
	if l.Fields == nil {
		return
	}
	if l.Format != LogFormatJSON {
		v.errf(path, "are for format json; the text line has its own")
		return
	}
	if len(l.Fields) == 0 {
		v.errf(path, "must name at least one field (leave it out for all of them)")
		return
	}
	seen := make(map[string]bool, len(l.Fields))
	for i, f := range l.Fields {
		switch {
		case !slices.Contains(AccessLogFields, f):
			v.errf(fmt.Sprintf("%s[%d]", path, i), "must be one of %s; got %q", strings.Join(AccessLogFields, ", "), f)
		case seen[f]:
			v.errf(fmt.Sprintf("%s[%d]", path, i), "%q is listed twice", f)
		}
		seen[f] = true
	}
}

func (v *validator) accessLog(l *AccessLog) {
	if l == nil {
		return
	}
	const p = "access_log"
	v.oneOf(p+".format", &l.Format, LogFormatJSON, LogFormatText, LogFormatJSON)
	v.fraction(p+".sample", &l.Sample, 1)
	v.logFields(p+".fields", l)
	v.intDefault(p+".queue_lines", &l.QueueLines, defaultLogQueueLines, 16, 1<<20)
	if l.Syslog == nil {
		if l.Path == "" {
			l.Path = "stderr"
		}
		return
	}
	if l.Path != "" {
		v.errf(p+".path", "is exclusive with syslog; set one of them")
	}
	s := l.Syslog
	v.oneOf(p+".syslog.network", &s.Network, "udp", "udp", "tcp", "unix", "unixgram")
	switch {
	case s.Address == "":
		v.errf(p+".syslog.address", "is required")
	case s.Network == "udp" || s.Network == "tcp":
		v.hostPort(p+".syslog.address", s.Address, 1, true)
	case !strings.HasPrefix(s.Address, "/") && net.ParseIP(s.Address) != nil:
		v.errf(p+".syslog.address", "must be a socket path for %s, got %q", s.Network, s.Address)
	}
	if s.Facility == "" {
		s.Facility = "local7"
	}
	if SyslogFacility(s.Facility) < 0 {
		v.errf(p+".syslog.facility", "must be one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7; got %q", s.Facility)
	}
	if s.Tag == "" {
		s.Tag = defaultSyslogTag
	}
	if len(s.Tag) > 48 || strings.ContainsFunc(s.Tag, func(r rune) bool { return r <= ' ' || r > '~' }) {
		v.errf(p+".syslog.tag", "must be at most 48 printable ASCII characters without spaces, got %q", s.Tag)
	}
	v.oneOf(p+".syslog.format", &s.Format, SyslogRFC5424, SyslogRFC5424, SyslogRFC3164)
}

// Values of RouteLog.Access.
const (
	LogAccessOn  = "on"
	LogAccessOff = "off"
)

// RouteLog is a route's "log:" field: whether its requests reach the
// access log (or, without an access_log section, the stderr request log).
//
//	log: { access: off }     # none of the route's requests
//	log: { sample: 0.1 }     # one success in ten; every failure
//
// It is checked when decoded (from YAML or the Admin API's JSON), where
// errors carry the route's path; a RouteLog built in Go can be checked
// with Check.
type RouteLog struct {
	// Access is on or off (YAML's true and false are accepted too). Off
	// logs none of the route's requests, failures included. Default on.
	Access string `yaml:"access,omitempty"`
	// Sample is the fraction of the route's successful requests logged,
	// in (0, 1], instead of access_log.sample; failed requests (a status
	// of 400 or more, or a failure reason such as an upstream error) are
	// always logged. Default 0: access_log.sample applies.
	Sample float64 `yaml:"sample,omitempty"`
}

// Off reports whether the route logs nothing. A nil RouteLog logs.
func (l *RouteLog) Off() bool { return l != nil && l.Access == LogAccessOff }

// Check reports a RouteLog whose values are out of range.
func (l *RouteLog) Check() error {
	switch l.Access {
	case "", LogAccessOn, LogAccessOff:
	default:
		return fmt.Errorf("access: must be on or off, got %q", l.Access)
	}
	if l.Sample != 0 && !(l.Sample > 0 && l.Sample <= 1) {
		return fmt.Errorf("sample: must be > 0 and <= 1, got %v", l.Sample)
	}
	if l.Sample != 0 && l.Access == LogAccessOff {
		return fmt.Errorf("sample: a route with access: off logs nothing to sample")
	}
	return nil
}

// UnmarshalYAML decodes and checks a route's log field, strictly: unknown
// or repeated keys are errors.
func (l *RouteLog) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("must be a mapping such as {access: off} or {sample: 0.1}, got %s", describeNode(n))
	}
	var out RouteLog
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return fmt.Errorf("%s: repeated", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "access":
			switch tag := val.ShortTag(); {
			case val.Kind == yaml.ScalarNode && tag == "!!bool":
				out.Access = LogAccessOff
				if b, _ := strconv.ParseBool(val.Value); b {
					out.Access = LogAccessOn
				}
			case val.Kind == yaml.ScalarNode && tag == "!!str":
				out.Access = val.Value
			default:
				return fmt.Errorf("access: must be on or off, got %s", describeNode(val))
			}
		case "sample":
			tag := val.ShortTag()
			f, err := strconv.ParseFloat(val.Value, 64)
			if val.Kind != yaml.ScalarNode || tag != "!!int" && tag != "!!float" || err != nil {
				return fmt.Errorf("sample: must be a number, got %s", describeNode(val))
			}
			if f == 0 {
				return fmt.Errorf("sample: must be > 0 and <= 1, got 0 (use access: off)")
			}
			out.Sample = f
		default:
			return fmt.Errorf("unknown field %q (known: access, sample)", k.Value)
		}
	}
	if err := out.Check(); err != nil {
		return err
	}
	*l = out
	return nil
}

// SyslogFacility returns the number of a facility name (local7 is 23), or
// -1 for a name Syslog.Facility refuses.
func SyslogFacility(name string) int {
	if name == "" {
		return -1
	}
	for i, f := range SyslogFacilities {
		if f == name {
			return i
		}
	}
	return -1
}
