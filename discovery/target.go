package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluice-gw/sluice/lb"
)

// Target is one discovered server with nginx-upsync's attributes.
type Target struct {
	// Addr is host:port (an IPv6 host in brackets).
	Addr string `json:"addr"`
	// Weight, 1..1000000. Default 1.
	Weight int `json:"weight"`
	// MaxFails and FailTimeoutSeconds are nginx's passive-health settings
	// of the server (defaults 2 and 10, as upsync's; max_fails=0 turns the
	// rule off). targetSpec carries them to lb's per-target MaxFails and
	// FailTimeout; the Manager applies them once it uses targetSpecs (see
	// selectSpecs).
	MaxFails           int `json:"max_fails"`
	FailTimeoutSeconds int `json:"fail_timeout"`
	// Down: the server is out of rotation by the operator's choice.
	Down bool `json:"down,omitempty"`
	// Backup: the server is used only while no primary one is listed up.
	Backup bool `json:"backup,omitempty"`
	// From is where the target came from: the KV key, or the catalog's
	// node/service-id.
	From string `json:"from"`
}

// nginx-upsync's defaults for a server whose value omits them.
const (
	defaultWeight      = 1
	defaultMaxFails    = 2
	defaultFailTimeout = 10
	maxWeight          = 1_000_000
)

func defaultTarget(addr, from string) Target {
	return Target{Addr: addr, Weight: defaultWeight, MaxFails: defaultMaxFails, FailTimeoutSeconds: defaultFailTimeout, From: from}
}

// checkAddr accepts host:port with a port 1..65535 and a host that is an
// IP address (IPv6 in brackets) or a host name.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrBadValue, addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%w: address %q: port must be 1..65535", ErrBadValue, addr)
	}
	if strings.Contains(host, ":") {
		if ip, err := netip.ParseAddr(host); err != nil || ip.Zone() != "" {
			return fmt.Errorf("%w: address %q: bad IPv6 address", ErrBadValue, addr)
		}
		return nil
	}
	if !validHostName(host) {
		return fmt.Errorf("%w: address %q: bad host", ErrBadValue, addr)
	}
	return nil
}

// validHostName accepts IPv4 literals and DNS names: labels of letters,
// digits, '-' and '_', 1..63 bytes, 253 in all.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// joinHostPort is net.JoinHostPort for a catalog address, which may carry
// brackets around an IPv6 address already.
func joinHostPort(host string, port int) string {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// parseKVValue reads nginx-upsync's value of one server:
// {"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}, each
// field a number or a numeric string (down and backup also true/false),
// absent fields and an empty value meaning upsync's defaults. Unknown fields
// are ignored, as upsync does.
func parseKVValue(addr, key string, value []byte) (Target, error) {
	t := defaultTarget(addr, key)
	value = bytes.TrimSpace(value)
	if len(value) == 0 {
		return t, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(value, &fields); err != nil {
		return t, fmt.Errorf("%w: key %q: value is not a JSON object: %v", ErrBadValue, key, err)
	}
	if fields == nil { // null decodes to no map, and no error
		return t, fmt.Errorf("%w: key %q: value is not a JSON object: null", ErrBadValue, key)
	}
	num := func(name string, dst *int, lo, hi int, booleans bool) error {
		raw, ok := fields[name]
		if !ok {
			return nil
		}
		n, err := jsonInt(raw, booleans)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%w: key %q: %s must be an integer %d..%d (a number or a numeric string), got %s", ErrBadValue, key, name, lo, hi, raw)
		}
		*dst = n
		return nil
	}
	var down, backup int
	for _, f := range [...]struct {
		name     string
		dst      *int
		lo, hi   int
		booleans bool // true and false are 1 and 0
	}{
		{"weight", &t.Weight, 1, maxWeight, false},
		{"max_fails", &t.MaxFails, 0, 1 << 20, false},
		{"fail_timeout", &t.FailTimeoutSeconds, 0, 1 << 24, false},
		{"down", &down, 0, 1, true},
		{"backup", &backup, 0, 1, true},
	} {
		if err := num(f.name, f.dst, f.lo, f.hi, f.booleans); err != nil {
			return t, err
		}
	}
	t.Down, t.Backup = down == 1, backup == 1
	return t, nil
}

// jsonInt reads an integer given as a JSON number, a numeric string, or,
// when booleans, a boolean (true is 1).
func jsonInt(raw json.RawMessage, booleans bool) (int, error) {
	s := string(bytes.TrimSpace(raw))
	switch {
	case booleans && s == "true":
		return 1, nil
	case booleans && s == "false":
		return 0, nil
	}
	if len(s) >= 2 && s[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, err
		}
		s = strings.TrimSpace(str)
	}
	return strconv.Atoi(s)
}

// fromKV turns the pairs under prefix+"/" into targets, sorted by address.
// A key whose last segment is not host:port, or whose value does not parse,
// is skipped and returned in bad; folders and nested keys are ignored.
func fromKV(prefix string, pairs api.KVPairs) (targets []Target, bad []error) {
	seen := make(map[string]bool, len(pairs))
	for _, kv := range pairs {
		rest, ok := strings.CutPrefix(kv.Key, prefix+"/")
		if !ok || rest == "" || strings.Contains(rest, "/") {
			continue
		}
		if err := checkAddr(rest); err != nil {
			bad = append(bad, fmt.Errorf("key %q: %w", kv.Key, err))
			continue
		}
		t, err := parseKVValue(rest, kv.Key, kv.Value)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if seen[t.Addr] {
			continue
		}
		seen[t.Addr] = true
		targets = append(targets, t)
	}
	sortTargets(targets)
	return targets, bad
}

// fromCatalog turns the health entries of a service into targets, sorted by
// address: the address is Service.Address, else Node.Address; the weight is
// a tag weight=N, else Service.Weights.Passing; tags max_fails=N,
// fail_timeout=N, backup and down work as in upsync. Two instances on one
// address keep the first.
func fromCatalog(entries []*api.ServiceEntry) (targets []Target, bad []error) {
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e == nil || e.Service == nil {
			continue
		}
		host := e.Service.Address
		if host == "" && e.Node != nil {
			host = e.Node.Address
		}
		from := e.Service.ID
		if e.Node != nil {
			from = e.Node.Node + "/" + e.Service.ID
		}
		addr := joinHostPort(host, e.Service.Port)
		if err := checkAddr(addr); err != nil {
			bad = append(bad, fmt.Errorf("instance %q: %w", from, err))
			continue
		}
		t := defaultTarget(addr, from)
		if w := e.Service.Weights.Passing; w > 0 {
			t.Weight = min(w, maxWeight)
		}
		if err := applyTags(&t, e.Service.Tags); err != nil {
			bad = append(bad, fmt.Errorf("instance %q: %w", from, err))
			continue
		}
		if seen[t.Addr] {
			continue
		}
		seen[t.Addr] = true
		targets = append(targets, t)
	}
	sortTargets(targets)
	return targets, bad
}

func applyTags(t *Target, tags []string) error {
	for _, tag := range tags {
		name, val, hasVal := strings.Cut(tag, "=")
		var dst *int
		lo, hi := 0, 1<<24
		switch name {
		case "weight":
			dst, lo, hi = &t.Weight, 1, maxWeight
		case "max_fails":
			dst = &t.MaxFails
		case "fail_timeout":
			dst = &t.FailTimeoutSeconds
		case "backup", "down":
			b := !hasVal || val == "1" || val == "true"
			if hasVal && !b && val != "0" && val != "false" {
				return fmt.Errorf("%w: tag %q: want %s, %s=1 or %s=0", ErrBadValue, tag, name, name, name)
			}
			if name == "backup" {
				t.Backup = b
			} else {
				t.Down = b
			}
			continue
		default:
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(val, "s"))
		if !hasVal || err != nil || n < lo || n > hi {
			return fmt.Errorf("%w: tag %q: want %s=N with N in %d..%d", ErrBadValue, tag, name, lo, hi)
		}
		*dst = n
	}
	return nil
}

func sortTargets(ts []Target) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Addr < ts[j].Addr })
}

// usable reports whether a rotation has a target lb may pick: one that is
// not down. An answer without one is not last known good.
func usable(specs []lb.TargetSpec) bool {
	for _, sp := range specs {
		if !sp.Down {
			return true
		}
	}
	return false
}

// targetSpec is a discovered server as lb's TargetSpec, nginx's server
// parameters included. nginx's max_fails=0 turns the rule off, which lb
// spells -1; so does fail_timeout=0, under which nginx takes a server out
// for the rest of the current second at most.
func targetSpec(t Target) lb.TargetSpec {
	sp := lb.TargetSpec{
		Addr:        t.Addr,
		Weight:      t.Weight,
		Down:        t.Down,
		Backup:      t.Backup,
		MaxFails:    t.MaxFails,
		FailTimeout: time.Duration(t.FailTimeoutSeconds) * time.Second,
	}
	if t.MaxFails == 0 || t.FailTimeoutSeconds == 0 {
		sp.MaxFails, sp.FailTimeout = -1, 0
	}
	return sp
}

// targetSpecs turns a source's targets into an upstream's rotation where lb
// applies nginx's rules by health: every target, down and backup ones
// included with their flags (lb lists a down target but never picks it,
// and picks backups only when no primary can be). The Hash balancer has no
// backups (lb refuses them, as nginx does): for it backups are used, as
// primaries, only when the source lists no primary that is not down.
func targetSpecs(ts []Target, balancer lb.BalancerKind) []lb.TargetSpec {
	specs := make([]lb.TargetSpec, 0, len(ts))
	primaryListed := false
	for _, t := range ts {
		primaryListed = primaryListed || !t.Down && !t.Backup
	}
	for _, t := range ts {
		sp := targetSpec(t)
		if balancer == lb.Hash && sp.Backup {
			if primaryListed {
				continue
			}
			sp.Backup = false
		}
		specs = append(specs, sp)
	}
	return specs
}

// sameSpecs reports whether the snapshot was built from specs, server
// parameters included, so that an answer that only drains a target or
// changes its max_fails is applied too.
func sameSpecs(s *lb.Snapshot, specs []lb.TargetSpec) bool {
	have := s.Specs()
	if len(have) != len(specs) {
		return false
	}
	for i, sp := range specs {
		if sp.Weight == 0 {
			sp.Weight = 1 // as lb fills it in
		}
		if have[i] != sp {
			return false
		}
	}
	return true
}
