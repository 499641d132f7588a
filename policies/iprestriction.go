package policies

import (
	"bytes"
	"net/netip"
	"sort"
	"strings"
	"unsafe"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
)

// ipRestrictionConfig is the `ip-restriction` policy's config.
type ipRestrictionConfig struct {
	// Allow lists the addresses and CIDRs (v4 and v6) allowed: any other
	// client gets a 403. Default none (every client not denied).
	Allow []string `yaml:"allow" desc:"IPs and CIDRs (v4, v6) allowed; others get 403; default any"`
	// Deny lists addresses and CIDRs refused, checked first. Default none.
	Deny []string `yaml:"deny" desc:"IPs and CIDRs refused, checked first; default none"`
	// TrustedProxies are the peers whose RealIPHeader is believed: the
	// client is then the right-most address of that header that is not a
	// trusted proxy (nginx's real_ip_recursive). Default none: the client
	// is the socket's peer, whatever the request says.
	TrustedProxies []string `yaml:"trusted_proxies" desc:"peers whose real_ip_header is believed (right-most untrusted address); default none: the socket peer"`
	// RealIPHeader is X-Forwarded-For (a list) or X-Real-IP (one address).
	// Default X-Forwarded-For.
	RealIPHeader string `yaml:"real_ip_header" desc:"X-Forwarded-For (default) or X-Real-IP"`
}

// ipRestriction allows or denies clients by address. The lists are
// compiled into sorted, merged ranges of 128-bit addresses (IPv4 as
// IPv4-mapped IPv6): a lookup is a binary search and allocates nothing,
// however long the lists.
type ipRestriction struct {
	allow, deny, trusted ipRanges
	hasAllow             bool
	realIPHeader         string // lower case
	list                 bool   // the header is a comma-separated list
}

func init() { RegisterConfig("ip-restriction", ipRestrictionConfig{}, newIPRestriction) }

func newIPRestriction(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg ipRestrictionConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Allow) == 0 && len(cfg.Deny) == 0 {
		return nil, config.FieldError(spec, "", "set allow, deny or both")
	}
	p := &ipRestriction{hasAllow: len(cfg.Allow) > 0, realIPHeader: cfg.RealIPHeader}
	var err error
	if p.allow, err = parseRanges(spec, "allow", cfg.Allow); err != nil {
		return nil, err
	}
	if p.deny, err = parseRanges(spec, "deny", cfg.Deny); err != nil {
		return nil, err
	}
	if p.trusted, err = parseRanges(spec, "trusted_proxies", cfg.TrustedProxies); err != nil {
		return nil, err
	}
	switch {
	case p.realIPHeader == "" || strings.EqualFold(p.realIPHeader, "X-Forwarded-For"):
		p.realIPHeader, p.list = "x-forwarded-for", true
	case strings.EqualFold(p.realIPHeader, "X-Real-IP"):
		p.realIPHeader = "x-real-ip"
	default:
		return nil, config.FieldError(spec, "real_ip_header", "must be X-Forwarded-For or X-Real-IP, got "+quote(p.realIPHeader))
	}
	if cfg.RealIPHeader != "" && len(cfg.TrustedProxies) == 0 {
		return nil, config.FieldError(spec, "real_ip_header", "has no effect without trusted_proxies: the header is read only from a trusted peer (the client is the socket's peer otherwise); list the proxies in front of the gateway, or drop real_ip_header")
	}
	return p, nil
}

func (p *ipRestriction) Priority() int { return ipRestrictionPriority }

func (p *ipRestriction) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, p.access)
	return nil
}

func (p *ipRestriction) access(x *engine.Ctx) engine.Status {
	addr, ok := p.clientAddr(x)
	switch {
	case !ok:
		x.RespondError(403, "client address unknown")
	case p.deny.contains(addr):
		x.RespondError(403, "IP address not allowed")
	case p.hasAllow && !p.allow.contains(addr):
		x.RespondError(403, "IP address not allowed")
	default:
		return engine.Continue
	}
	return engine.Done
}

// clientAddr is the socket's peer, or, when the peer is a trusted proxy,
// the right-most address of the real-ip header that is not a trusted
// proxy (the left-most when all are). Addresses a client wrote to the
// left of it are never believed.
func (p *ipRestriction) clientAddr(x *engine.Ctx) (u128, bool) {
	peer, ok := parseIP(x.ClientIP())
	if !ok || len(p.trusted) == 0 || !p.trusted.contains(peer) {
		return peer, ok
	}
	client, bad, first := peer, false, true
	x.VisitHeaders(func(name, value []byte) bool {
		if !equalFold(name, p.realIPHeader) {
			return true
		}
		for len(value) > 0 {
			item := value
			if i := bytes.IndexByte(value, ','); i >= 0 && p.list {
				item, value = value[:i], value[i+1:]
			} else {
				value = nil
			}
			item = bytes.Trim(item, " \t")
			if len(item) == 0 {
				continue
			}
			a, ok := parseIP(item)
			if first {
				client, first = a, false // the left-most, when every hop is trusted
				bad = !ok
			}
			if !ok || !p.trusted.contains(a) {
				client, bad = a, !ok
			}
		}
		return true
	})
	return client, !bad
}

// u128 is an address as a 128-bit number, IPv4 mapped into IPv6.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

func u128Of(a netip.Addr) u128 {
	b := a.As16()
	var u u128
	for i := 0; i < 8; i++ {
		u.hi = u.hi<<8 | uint64(b[i])
		u.lo = u.lo<<8 | uint64(b[8+i])
	}
	return u
}

// parseIP parses an address without allocating (the text is only viewed
// for the call). A zone ("fe80::1%eth0") is refused: it never names a
// remote client.
func parseIP(b []byte) (u128, bool) {
	if len(b) == 0 || len(b) > 45 {
		return u128{}, false
	}
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil || a.Zone() != "" {
		return u128{}, false
	}
	return u128Of(a), true
}

// ipRanges are sorted, disjoint, non-adjacent ranges.
type ipRanges []ipRange

type ipRange struct{ lo, hi u128 }

func (r ipRanges) contains(a u128) bool {
	lo, hi := 0, len(r)
	for lo < hi { // the first range whose hi >= a
		m := int(uint(lo+hi) >> 1)
		if r[m].hi.less(a) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(r) && !a.less(r[lo].lo)
}

// parseRanges compiles addresses and CIDRs ("10.0.0.0/8", "2001:db8::/32",
// "192.0.2.7", "::1"); a CIDR with host bits set is refused, as it most
// likely meant another network.
func parseRanges(spec config.PolicySpec, field string, items []string) (ipRanges, error) {
	var rs ipRanges
	for i, s := range items {
		where := field + "[" + itoa(i) + "]"
		var pfx netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if pfx, err = netip.ParsePrefix(s); err != nil {
				return nil, config.FieldError(spec, where, "not an IP or CIDR: "+quote(s))
			}
			if pfx.Masked() != pfx {
				return nil, config.FieldError(spec, where, "has host bits set: did you mean "+pfx.Masked().String()+"?")
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, config.FieldError(spec, where, "not an IP or CIDR: "+quote(s))
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		a := pfx.Addr()
		bits := pfx.Bits()
		if a.Is4() {
			a, bits = netip.AddrFrom16(a.As16()), bits+96
		}
		lo := u128Of(a)
		hi := lo
		host := 128 - bits
		switch {
		case host >= 64:
			hi.lo = ^uint64(0)
			if host == 128 {
				hi.hi = ^uint64(0)
			} else {
				hi.hi |= 1<<(host-64) - 1
			}
		case host > 0:
			hi.lo |= 1<<host - 1
		}
		rs = append(rs, ipRange{lo, hi})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo.less(rs[j].lo) })
	merged := rs[:0]
	for _, r := range rs {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if next, ok := last.hi.next(); !ok || !next.less(r.lo) { // overlapping or adjacent
				if last.hi.less(r.hi) {
					last.hi = r.hi
				}
				continue
			}
		}
		merged = append(merged, r)
	}
	return merged, nil
}
