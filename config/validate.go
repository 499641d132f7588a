package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-gw/sluice/router"
	"github.com/sluice-gw/sluice/shm"
)

// Validate fills the defaults documented on each field and checks every
// value and every reference, returning all the problems at once as Errors
// (nil if none). Parse and Load have already called it; call it on a Config
// built or changed in Go. It is idempotent.
//
// Validate checks route patterns with package router's grammar and
// refuses routes that match exactly the same requests, as the engine's
// router would.
func (c *Config) Validate() error {
	var errs errorList
	v := validator{src: c.src, errs: &errs}
	v.config(c)
	return errs.err()
}

// validator fills defaults and records errors at paths, with lines when the
// Config came from a file.
type validator struct {
	src  *source // nil for a Config built in Go
	errs *errorList
}

func (v *validator) errf(path, format string, args ...any) {
	if v.src.isBad(path) {
		return
	}
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if v.src != nil {
		e.File, e.Line = v.src.fileOf(path), v.src.lineOf(path)
	}
	v.errs.add(e)
}

// Defaults, as documented on the fields.
const (
	defaultListen           = ":8080"
	defaultDrainTimeout     = Duration(30 * time.Second)
	defaultLogLevel         = "info"
	defaultLogFormat        = "text"
	defaultHeaderTimeout    = Duration(10 * time.Second)
	defaultBodyTimeout      = Duration(60 * time.Second)
	defaultKeepaliveTimeout = Duration(75 * time.Second)
	defaultMaxHeadBytes     = 16 << 10
	defaultMaxFields        = 100
	defaultMaxIdle          = 64
	defaultIdleTimeout      = Duration(60 * time.Second)
	defaultMaxRequests      = 1000
	defaultConnectTimeout   = Duration(5 * time.Second)
	defaultSendTimeout      = Duration(60 * time.Second)
	defaultReadTimeout      = Duration(60 * time.Second)
	defaultTries            = 2
	defaultRetryBudget      = 0.2
	defaultMaxFails         = 1
	defaultFailTimeout      = Duration(10 * time.Second)
	defaultProbePath        = "/healthz"
	defaultProbeInterval    = Duration(5 * time.Second)
	defaultProbeTimeout     = Duration(time.Second)
	defaultHealthy          = 2
	defaultUnhealthy        = 3
	defaultMaxEjectedPct    = 50
	defaultPanicThreshold   = 0.5
)

func defaultRetryOn() []string    { return []string{RetryOnConnect, RetryOnTimeout, RetryOnError} }
func defaultRetryStatuses() []int { return []int{502, 503, 504} }

func (v *validator) config(c *Config) {
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	v.hostPort("listen", c.Listen, 0, false)
	v.intRange("workers", c.Workers, 0, 1024)
	v.duration("drain_timeout", &c.DrainTimeout, defaultDrainTimeout)
	v.oneOf("log_level", &c.LogLevel, defaultLogLevel, "debug", "info", "warn", "error")
	v.oneOf("log_format", &c.LogFormat, defaultLogFormat, "text", "json")
	dicts := make([]string, 0, len(c.SharedDicts))
	for name := range c.SharedDicts {
		dicts = append(dicts, name)
	}
	sort.Strings(dicts)
	for _, name := range dicts {
		p := keyPath("shared_dicts", name)
		v.name(p, name)
		// Checked here, not only when the dicts are built: a file check
		// or an Admin API change then names the dict and its line.
		if size := c.SharedDicts[name]; size < shm.MinCapacity {
			v.errf(p, "must be at least %d bytes (room for one entry), got %d", shm.MinCapacity, size)
		}
	}
	v.client(&c.Client)
	upstreams := make(map[string]int, len(c.Upstreams))
	for i := range c.Upstreams {
		v.upstream(&c.Upstreams[i], "upstreams["+strconv.Itoa(i)+"]", i, upstreams)
	}
	if routes := c.Routes.Slice(); v.routes(routes, upstreams) {
		c.Routes = Routes(routes...)
	}
	v.policies("global_policies", c.GlobalPolicies)
	v.redis(c.Redis)
	v.admin(&c.Admin)
	v.accessLog(c.AccessLog)
	v.consulAndDiscovery(c)
	v.consumers(c)
	v.configSource(c)
	c.stamp()
}

func (v *validator) client(c *Client) {
	v.duration("client.header_timeout", &c.HeaderTimeout, defaultHeaderTimeout)
	v.duration("client.body_timeout", &c.BodyTimeout, defaultBodyTimeout)
	v.duration("client.keepalive_timeout", &c.KeepaliveTimeout, defaultKeepaliveTimeout)
	v.duration("client.policy_timeout", &c.PolicyTimeout, c.HeaderTimeout)
	if c.MaxHeadBytes == 0 {
		c.MaxHeadBytes = defaultMaxHeadBytes
	}
	if c.MaxHeadBytes < 1<<10 || c.MaxHeadBytes > 1<<20 {
		v.errf("client.max_head_bytes", "must be between 1KiB and 1MiB, got %s", c.MaxHeadBytes)
	}
	v.intDefault("client.max_fields", &c.MaxFields, defaultMaxFields, 1, 10000)
	v.nonNegativeSize("client.max_body", c.MaxBody)
}

func (v *validator) upstream(u *Upstream, p string, i int, seen map[string]int) {
	if u.Name == "" {
		v.errf(p+".name", "is required")
	} else {
		v.name(p+".name", u.Name)
		// A malformed name is still recorded, so that the routes naming
		// it are not also reported as pointing to an unknown upstream.
		if first, dup := seen[u.Name]; dup {
			v.errf(p+".name", "duplicate upstream name %q (first at upstreams[%d])", u.Name, first)
		} else {
			seen[u.Name] = i
		}
	}
	if len(u.Targets) == 0 && u.Discovery == nil {
		v.errf(p+".targets", "at least one target is required")
	}
	addrs := make(map[string]int, len(u.Targets))
	for j := range u.Targets {
		t, tp := &u.Targets[j], p+".targets["+strconv.Itoa(j)+"]"
		if t.Addr == "" {
			v.errf(tp+".addr", "is required")
		} else if v.hostPort(tp+".addr", t.Addr, 1, true) {
			if first, dup := addrs[t.Addr]; dup {
				v.errf(tp+".addr", "duplicate target %q (first at targets[%d])", t.Addr, first)
			} else {
				addrs[t.Addr] = j
			}
		}
		// An explicit weight of 0 is refused rather than defaulted: it
		// reads as "send nothing here".
		if t.Weight == 0 && !v.src.present(tp+".weight") {
			t.Weight = 1
		}
		if t.Weight < 1 || t.Weight > 1000 {
			v.errf(tp+".weight", "must be between 1 and 1000, got %d", t.Weight)
		}
		v.intRange(tp+".max_fails", t.MaxFails, -1, 1<<20)
		if t.FailTimeout < 0 {
			v.errf(tp+".fail_timeout", "must not be negative, got %s", t.FailTimeout)
		}
		if t.Backup && u.Balancer == BalancerHash {
			v.errf(tp+".backup", "the hash balancer takes no backup targets (a key would move when they come in), as nginx")
		}
	}
	v.oneOf(p+".balancer", &u.Balancer, BalancerRoundRobin,
		BalancerRoundRobin, BalancerLeastConn, BalancerHash, BalancerEWMA, BalancerP2C)
	switch {
	case u.Balancer == BalancerHash && u.HashOn == "":
		v.errf(p+".hash_on", "is required by the hash balancer")
	case u.Balancer == BalancerHash:
		if _, _, err := ParseHashOn(u.HashOn); err != nil {
			v.errf(p+".hash_on", "%s", err)
		}
	case u.HashOn != "":
		v.errf(p+".hash_on", "is only used by the hash balancer, not by %q", u.Balancer)
	}
	v.intDefault(p+".pool.max_idle", &u.Pool.MaxIdle, defaultMaxIdle, -1, 1<<20)
	v.duration(p+".pool.idle_timeout", &u.Pool.IdleTimeout, defaultIdleTimeout)
	v.intDefault(p+".pool.max_requests", &u.Pool.MaxRequests, defaultMaxRequests, -1, 1<<30)
	v.duration(p+".timeouts.connect", &u.Timeouts.Connect, defaultConnectTimeout)
	v.duration(p+".timeouts.send", &u.Timeouts.Send, defaultSendTimeout)
	v.duration(p+".timeouts.read", &u.Timeouts.Read, defaultReadTimeout)
	v.retries(&u.Retries, p+".retries")
	v.health(&u.Health, p+".health")
}

func (v *validator) retries(r *Retries, p string) {
	v.intDefault(p+".tries", &r.Tries, defaultTries, 1, 16)
	v.duration(p+".per_try_timeout", &r.PerTryTimeout, 0)
	if r.On == nil {
		r.On = defaultRetryOn()
	}
	for i := range r.On {
		v.oneOf(p+".on["+strconv.Itoa(i)+"]", &r.On[i], "",
			RetryOnConnect, RetryOnTimeout, RetryOnError, RetryOnInvalidHeader)
	}
	if r.Statuses == nil {
		r.Statuses = defaultRetryStatuses()
	}
	for i, s := range r.Statuses {
		v.intRange(p+".statuses["+strconv.Itoa(i)+"]", s, 400, 599)
	}
	v.fraction(p+".budget", &r.Budget, defaultRetryBudget)
}

func (v *validator) health(h *Health, p string) {
	ps := &h.Passive
	v.intDefault(p+".passive.max_fails", &ps.MaxFails, defaultMaxFails, -1, 1<<20)
	v.duration(p+".passive.fail_timeout", &ps.FailTimeout, defaultFailTimeout)
	v.intRange(p+".passive.consecutive_5xx", ps.Consecutive5xx, 0, 1<<20)
	if a := h.Active; a != nil {
		ap := p + ".active"
		v.oneOf(ap+".type", &a.Type, ProbeHTTP, ProbeHTTP, ProbeTCP)
		if a.Path == "" {
			a.Path = defaultProbePath
		}
		if !validProbePath(a.Path) {
			v.errf(ap+".path", `must start with "/" and hold no spaces or control bytes, got %q`, a.Path)
		}
		if a.Host != "" {
			v.hostOptionalPort(ap+".host", a.Host)
		}
		v.duration(ap+".interval", &a.Interval, defaultProbeInterval)
		v.duration(ap+".timeout", &a.Timeout, defaultProbeTimeout)
		if a.Timeout > a.Interval {
			v.errf(ap+".timeout", "must not exceed interval (%s), got %s", a.Interval, a.Timeout)
		}
		if a.Statuses == nil {
			a.Statuses = []int{200}
		}
		if len(a.Statuses) == 0 && a.Type == ProbeHTTP {
			v.errf(ap+".statuses", "at least one status is required")
		}
		for i, s := range a.Statuses {
			v.intRange(ap+".statuses["+strconv.Itoa(i)+"]", s, 100, 599)
		}
		v.intDefault(ap+".healthy", &a.Healthy, defaultHealthy, 1, 1000)
		v.intDefault(ap+".unhealthy", &a.Unhealthy, defaultUnhealthy, 1, 1000)
	}
	v.intDefault(p+".max_ejected_percent", &h.MaxEjectedPercent, defaultMaxEjectedPct, 1, 100)
	v.fraction(p+".panic_threshold", &h.PanicThreshold, defaultPanicThreshold)
}

func (v *validator) routes(routes []*Route, upstreams map[string]int) (replaced bool) {
	var table router.Builder
	names := make(map[string]int, len(routes))
	for i := range routes {
		r, p := routes[i], "routes["+strconv.Itoa(i)+"]"
		if r == nil { // "- " or "~" in the list
			v.errf(p, "is empty: a route needs at least a match")
			routes[i] = &Route{Name: p} // refused anyway; the checks after this one read it
			replaced = true
			continue
		}
		if r.Name == "" {
			r.Name = p
		}
		if first, dup := names[r.Name]; dup {
			v.errf(p+".name", "duplicate route name %q (first at routes[%d])", r.Name, first)
		} else {
			names[r.Name] = i
		}
		if v.route(r, p, func(name string) bool { _, ok := upstreams[name]; return ok }) {
			if err := table.Add(r.Match.RouterMatch(), i); err != nil {
				v.errf(p+".match", "%s", err)
			}
		}
	}
	if _, err := table.Build(); err != nil {
		for _, e := range unwrapAll(err) {
			var ce *router.ConflictError
			if errors.As(e, &ce) {
				v.errf("routes["+strconv.Itoa(ce.Route)+"].match", "%s", ConflictMessage(ce.Other, routes[ce.Other].Name, ce))
			} else {
				v.errf("routes", "%s", e)
			}
		}
	}
	return replaced
}

// ConflictMessage is the error message about a route whose match takes the
// same requests as the route at routes[other], named otherName: the
// validator's, and the engine's when it finds the conflict itself while
// applying one changed route (Config.PutRoute leaves that check to it).
func ConflictMessage(other int, otherName string, ce *router.ConflictError) string {
	return fmt.Sprintf("matches the same requests as routes[%d] (%q): %s", other, otherName, ce.Overlap())
}

// route checks one route at path p and fills its defaults, everything but
// what involves the other routes (its name's uniqueness, overlapping
// matches). hasUpstream says whether an upstream name exists. It reports
// whether the match patterns are valid.
func (v *validator) route(r *Route, p string, hasUpstream func(string) bool) bool {
	if r.Name == "" {
		r.Name = p
	} else if strings.IndexFunc(r.Name, func(c rune) bool { return c < ' ' || c == 0x7f }) >= 0 || len(r.Name) > 200 {
		v.errf(p+".name", "must be at most 200 bytes without control characters, got %q", r.Name)
	}
	if r.Upstream != "" && !hasUpstream(r.Upstream) {
		v.errf(p+".upstream", "unknown upstream %q", r.Upstream)
	}
	switch r.Host {
	case "":
		r.Host = HostPass
	case HostPass, HostUpstream:
	default:
		v.hostOptionalPort(p+".host", r.Host)
	}
	v.nonNegativeSize(p+".max_body", r.MaxBody)
	if r.StripPrefix && !hasPrefixPath(r.Match.Paths) {
		v.errf(p+".strip_prefix", `needs a prefix path like "/api/*" in match.paths`)
	}
	ok := v.match(&r.Match, p+".match")
	v.policies(p+".policies", r.Policies)
	return ok
}

// match checks every pattern of m and reports whether all are valid.
func (v *validator) match(m *Match, p string) bool {
	ok := true
	check := func(field string, list []string, checkFn func(string) error) {
		for i, pat := range list {
			if err := checkFn(pat); err != nil {
				ok = false
				v.errf(p+"."+field+"["+strconv.Itoa(i)+"]", "%s, got %q", strings.TrimPrefix(err.Error(), "router: "), pat)
			}
		}
	}
	check("hosts", m.Hosts, router.CheckHost)
	check("paths", m.Paths, router.CheckPath)
	check("methods", m.Methods, func(meth string) error {
		if err := router.CheckMethod(meth); err != nil {
			return err
		}
		if upper := strings.ToUpper(meth); upper != meth {
			return fmt.Errorf("methods are case-sensitive; did you mean %q?", upper)
		}
		return nil
	})
	return ok
}

// policies checks a scope's policy specs (a route's, or the global ones).
// A policy's identity in its scope is its id, else its name: state such as
// counters is keyed by it, so it must be unique in the scope, and it does
// not change when policies or routes are reordered.
func (v *validator) policies(p string, specs []PolicySpec) {
	seen := make(map[string]string, len(specs))
	for i := range specs {
		s, sp := &specs[i], p+"["+strconv.Itoa(i)+"]"
		s.Path = sp
		if v.src != nil {
			s.File, s.Line = v.src.fileOf(sp), v.src.lineOf(sp)
		}
		switch {
		case s.Name == "":
			v.errf(sp+".name", "is required")
		case !validPolicyName(s.Name):
			v.errf(sp+".name", "must match [a-z0-9_-]+, got %q", s.Name)
		}
		if s.ID != "" {
			v.name(sp+".id", s.ID)
		}
		if id := s.Identity(); id != "" {
			if first, dup := seen[id]; dup {
				if s.ID != "" {
					v.errf(sp+".id", "duplicate policy id %q in this scope (first at %s)", id, first)
				} else {
					v.errf(sp+".id", "required: %s already has a policy %q without an id (first at %s); give each an id so their state stays apart", p, id, first)
				}
			} else {
				seen[id] = sp
			}
		}
	}
}

// unwrapAll flattens an errors.Join tree.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
		return out
	}
	return []error{err}
}

func hasPrefixPath(paths []string) bool {
	for _, p := range paths {
		if strings.HasSuffix(p, "/*") && p != "/*" {
			return true
		}
	}
	return false
}

// name checks an upstream or shared dict name.
func (v *validator) name(p, name string) {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			v.errf(p, "must match [a-zA-Z0-9_.-]+, got %q", name)
			return
		}
	}
	if name == "" {
		v.errf(p, "must not be empty")
	}
}

func validPolicyName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return name != ""
}

func validProbePath(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] == 0x7f {
			return false
		}
	}
	return true
}

// hostPort checks a host:port address with a port of at least minPort, and
// a host when needHost; it reports whether the address is valid.
func (v *validator) hostPort(p, addr string, minPort int, needHost bool) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errf(p, "must be host:port, got %q", addr)
		return false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 {
		v.errf(p, "port must be between %d and 65535, got %q", minPort, addr)
		return false
	}
	if host == "" {
		if needHost {
			v.errf(p, "must have a host, got %q", addr)
			return false
		}
		return true
	}
	if !validHost(host) {
		v.errf(p, "bad host in %q", addr)
		return false
	}
	return true
}

// hostOptionalPort checks a literal host with an optional port, as in a
// Host header.
func (v *validator) hostOptionalPort(p, hostport string) {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		v.hostPort(p, hostport, 1, true)
		return
	}
	if !validHost(hostport) {
		v.errf(p, "must be a host or host:port, got %q", hostport)
	}
}

// CheckHostOptionalPort checks a Host value as a route's host setting
// takes it: a host name or an IP address, with or without a port. The
// error is the validator's message, for a policy's own field.
func CheckHostOptionalPort(hostport string) error {
	var errs errorList
	v := validator{errs: &errs}
	v.hostOptionalPort("", hostport)
	if len(errs.errs) > 0 {
		return errors.New(errs.errs[0].Msg)
	}
	return nil
}

// validHost accepts a host name or an IP address (an IPv6 one with or
// without brackets).
func validHost(h string) bool {
	if strings.Contains(h, ":") {
		_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
		return err == nil
	}
	return router.CheckHost(h) == nil && !strings.HasPrefix(h, "*")
}

func (v *validator) duration(p string, d *Duration, def Duration) {
	if *d < 0 {
		v.errf(p, "must not be negative, got %s", *d)
	}
	if *d == 0 {
		*d = def
	}
}

func (v *validator) nonNegativeSize(p string, s Size) {
	if s < 0 {
		v.errf(p, "must not be negative, got %d", s)
	}
}

func (v *validator) intRange(p string, n, lo, hi int) {
	if n < lo || n > hi {
		v.errf(p, "must be between %d and %d, got %d", lo, hi, n)
	}
}

// intDefault sets a zero *n to def, then checks the range.
func (v *validator) intDefault(p string, n *int, def, lo, hi int) {
	if *n == 0 {
		*n = def
	}
	v.intRange(p, *n, lo, hi)
}

// fraction sets a zero *f to def, then checks it is in (0, 1].
func (v *validator) fraction(p string, f *float64, def float64) {
	if *f == 0 {
		*f = def
	}
	if !(*f > 0 && *f <= 1) {
		v.errf(p, "must be > 0 and <= 1, got %v", *f)
	}
}

// oneOf sets an empty *s to def (unless def is ""), then checks it is one
// of allowed.
func (v *validator) oneOf(p string, s *string, def string, allowed ...string) {
	if *s == "" && def != "" {
		*s = def
	}
	for _, a := range allowed {
		if *s == a {
			return
		}
	}
	v.errf(p, "must be one of %s; got %q", strings.Join(allowed, ", "), *s)
}
