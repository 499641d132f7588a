package policies

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/engine/enginetest"
	"github.com/sluice-gw/sluice/http1"
)

func init() {
	RegisterConfig("test-client-addr", ipRestrictionConfig{}, func(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
		p, err := newIPRestriction(spec, env)
		if err != nil {
			return nil, err
		}
		return clientAddrProbe{p.(*ipRestriction)}, nil
	})
}

// clientAddrProbe is ip-restriction answering each request with the
// client address it chose, as 32 hex digits, or "unknown".
type clientAddrProbe struct{ *ipRestriction }

func (p clientAddrProbe) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseAccess, func(x *engine.Ctx) engine.Status {
		body := "unknown"
		if a, ok := p.clientAddr(x); ok {
			body = fmt.Sprintf("%016x%016x", a.hi, a.lo)
		}
		x.Respond(200, nil, []byte(body))
		return engine.Done
	})
	return nil
}

// FuzzClientAddr checks the client address ip-restriction believes, from
// any X-Forwarded-For and X-Real-IP fields a client sends (lines of the
// input, each named by a bit of names), with the real-ip header and a
// trusted peer or not chosen by mode. Against nginx's real_ip_recursive,
// written apart with net/netip: an untrusted peer is the client whatever
// the fields say; behind a trusted one, walking the real-ip header's
// addresses from the right, the first that is not a trusted proxy is the
// client, one that does not parse (or has a zone) makes the client
// unknown, the left-most is the client when all are trusted, and the peer
// when there are none. So the address chosen is the peer or one the
// header holds; it is a trusted proxy's only when the header holds no
// other; nothing left of the right-most untrusted address counts; garbage
// never becomes an address; and every request is answered.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{
		"", "198.51.100.1", "198.51.100.1, 10.0.0.1", "203.0.113.9, 198.51.100.1, 10.1.1.1", "10.0.0.1, 10.0.0.2",
		"1.2.3.4,,, ,10.0.0.1", " , ", "198.51.100.1, not-an-ip", "not-an-ip, 198.51.100.1", "fe80::1%eth0",
		"2001:db8::1, 2001:db8:bad::1", "::ffff:10.1.2.3", "::ffff:198.51.100.7, 10.0.0.1", "1.2.3.4\n10.0.0.1",
		"1.2.3.4\n5.6.7.8, 10.0.0.1\n10.0.0.2", "01.2.3.4", "1.2.3.4:80", "[2001:db8::1]", "\t1.2.3.4\t,\t10.0.0.9",
		"1.2.3.4, 10.0.0.1, " + strings.Repeat("10.0.0.2, ", 200) + "10.0.0.3", strings.Repeat("9", 46), "0000:0000:0000:0000:0000:ffff:255.255.255.255",
		"1.2.3.4, \xff\xfe, 10.0.0.1", "127.0.0.1", "::1, 127.0.0.1",
	} {
		for mode := range uint8(4) {
			f.Add(s, uint8(0), mode)
		}
	}
	f.Add("198.51.100.1\n203.0.113.9\n10.0.0.1", uint8(0b010), uint8(1))
	f.Add("198.51.100.1\n203.0.113.9, 10.0.0.1", uint8(0b001), uint8(0))
	f.Fuzz(func(t *testing.T, lines string, names, mode uint8) {
		realIPHeader, peerTrusted := "X-Forwarded-For", mode&2 == 0
		if mode&1 == 1 {
			realIPHeader = "X-Real-IP"
		}
		trusted := []string{"10.0.0.0/8", "2001:db8::/32"}
		if peerTrusted {
			trusted = append(trusted, "127.0.0.0/8", "::1")
		}
		var values []string
		if lines != "" {
			values = strings.Split(lines, "\n")
		}
		req := "GET / HTTP/1.1\r\nHost: a\r\n"
		var header []string // the values of the real-ip header, in order
		for i, v := range values {
			if !http1.ValidFieldValue(v) {
				return // not a field a parser lets through
			}
			name := "X-Forwarded-For"
			if names>>(i%8)&1 == 1 {
				name = "X-Real-IP"
			}
			req += name + ": " + v + "\r\n"
			if name == realIPHeader {
				header = append(header, v)
			}
		}
		g := enginetest.New(t, `listen: 127.0.0.1:1
workers: 1
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:2" } ] } ]
routes:
  - match: { paths: ["/*"] }
    upstream: up
    policies:
      - name: test-client-addr
        config: { allow: ["0.0.0.0/0"], real_ip_header: `+realIPHeader+`, trusted_proxies: ["`+strings.Join(trusted, `", "`)+`"] }
`, Build, nil)
		resp := g.Do(req + "\r\n")
		got, _ := io.ReadAll(resp.Body)
		peer := netip.MustParseAddr(enginetestPeerAddr)
		want := realIPClient(peer, header, realIPHeader == "X-Forwarded-For", trusted)
		if resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("%q via %s, trusted %v: client %d %q, want %q", header, realIPHeader, trusted, resp.StatusCode, got, want)
		}
	})
}

// enginetestPeerAddr is the address enginetest's client connections come
// from; TestClientAddrProbePeer checks it.
const enginetestPeerAddr = "127.0.0.1"

func TestClientAddrProbePeer(t *testing.T) {
	g := enginetest.New(t, `listen: 127.0.0.1:1
workers: 1
upstreams: [ { name: up, targets: [ { addr: "127.0.0.1:2" } ] } ]
routes: [ { match: { paths: ["/*"] }, upstream: up, policies: [ { name: test-client-addr, config: { allow: ["0.0.0.0/0"] } } ] } ]
`, Build, nil)
	got, _ := io.ReadAll(g.Do("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n").Body)
	if want := realIPClient(netip.MustParseAddr(enginetestPeerAddr), nil, true, nil); string(got) != want {
		t.Fatalf("peer %q, want %q (%s)", got, want, enginetestPeerAddr)
	}
}

// realIPClient is nginx's real_ip_recursive on header (the real-ip
// fields' values, in order; list: comma-separated lists), as 32 hex
// digits of the IPv6 form (IPv4 mapped), or "unknown".
func realIPClient(peer netip.Addr, header []string, list bool, trusted []string) string {
	isTrusted := func(a netip.Addr) bool {
		for _, s := range trusted {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				p = netip.PrefixFrom(netip.MustParseAddr(s), 128)
			}
			if p.Contains(a.Unmap()) || p.Contains(a) {
				return true
			}
		}
		return false
	}
	hex := func(a netip.Addr) string {
		b := a.As16()
		return fmt.Sprintf("%x", b[:])
	}
	if !isTrusted(peer) {
		return hex(peer)
	}
	var items []string
	for _, v := range header {
		parts := []string{v}
		if list {
			parts = strings.Split(v, ",")
		}
		for _, p := range parts {
			if p = strings.Trim(p, " \t"); p != "" {
				items = append(items, p)
			}
		}
	}
	if len(items) == 0 {
		return hex(peer)
	}
	for i := len(items) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(items[i])
		if err != nil || a.Zone() != "" {
			return "unknown"
		}
		if !isTrusted(a) {
			return hex(a)
		}
	}
	return hex(netip.MustParseAddr(items[0]))
}

// FuzzParseIP checks parseIP, which reads every address of a real-ip
// header, against net/netip on any bytes: the same addresses are accepted
// (a zone never: it names no remote client) with the same value, IPv4 as
// IPv4-mapped IPv6.
func FuzzParseIP(f *testing.F) {
	for _, s := range []string{
		"1.2.3.4", "::1", "::ffff:1.2.3.4", "2001:db8::1", "fe80::1%eth0", "01.2.3.4", "1.2.3.4 ", "", "::", "1.2.3",
		"0000:0000:0000:0000:0000:ffff:255.255.255.255", "0000:0000:0000:0000:0000:ffff:255.255.255.2555", "[::1]", "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseIP(b)
		a, err := netip.ParseAddr(string(b))
		want := err == nil && a.Zone() == ""
		if ok != want {
			t.Fatalf("parseIP(%q) ok = %v; netip: %v, %v", b, ok, a, err)
		}
		if ok && got != u128Of(a) {
			t.Fatalf("parseIP(%q) = %x, netip says %s", b, got, a)
		}
	})
}
