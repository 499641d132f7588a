package config

import (
	"net"
	"strings"
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
	// QueueLines bounds the lines each worker may have waiting for the
	// writer; past it lines are dropped and counted
	// (sluice_access_log_dropped_total), never waited for. 16..1048576.
	// Default 4096.
	QueueLines int `yaml:"queue_lines"`
}

// Syslog is where access-log lines go as syslog messages (Go's log/syslog:
// the BSD format, one message per line).
type Syslog struct {
	// Network is udp, tcp, unix or unixgram. Default "udp".
	Network string `yaml:"network"`
	// Address is host:port for udp and tcp, a socket path for unix and
	// unixgram ("/dev/log"). Required.
	Address string `yaml:"address"`
	// Facility is kern, user, mail, daemon, auth, syslog, lpr, news, uucp,
	// cron, authpriv, ftp or local0..local7. Default "local7".
	Facility string `yaml:"facility"`
	// Tag names the program in each message. Default "sluice".
	Tag string `yaml:"tag"`
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

const (
	defaultLogQueueLines = 4096
	defaultSyslogTag     = "sluice"
)

func (v *validator) accessLog(l *AccessLog) {
	if l == nil {
		return
	}
	const p = "access_log"
	v.oneOf(p+".format", &l.Format, LogFormatJSON, LogFormatText, LogFormatJSON)
	v.fraction(p+".sample", &l.Sample, 1)
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
