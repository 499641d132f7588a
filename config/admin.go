package config

import (
	"net"
	"net/netip"
)

// Admin is the top-level "admin:" section: the operators' listener, apart
// from traffic, that serves /metrics, /status, /status/upstreams (package
// admin) and the Admin API (package adminapi). The zero value serves nothing.
//
// Validate refuses an address that is not loopback unless AllowRemote
// says the operator means it; the gateway then also refuses to start
// without a bearer token (TokenFile or $SLUICE_ADMIN_TOKEN).
type Admin struct {
	// Listen is the admin listener's host:port. Default "": no listener.
	// The host must be a loopback address (127.0.0.0/8, ::1, localhost)
	// unless AllowRemote is set; an empty host (":9901", every interface)
	// counts as remote.
	Listen string `yaml:"listen"`
	// AllowRemote lets Listen be an address other hosts can reach.
	// Default false. Whoever can reach the listener reads every metric and
	// the upstream topology.
	AllowRemote bool `yaml:"allow_remote"`
	// TokenFile names a file holding the bearer token every admin request
	// must carry (Authorization: Bearer TOKEN; trailing newlines cut, at
	// least 16 bytes). The environment variable SLUICE_ADMIN_TOKEN, when
	// set, is used instead. Default "": no token, which only a loopback
	// listener may run without.
	TokenFile string `yaml:"token_file,omitempty"`
	// MetricsConsumerLabel counts requests by consumer too, in
	// sluice_consumer_requests_total{consumer,code} (consumer "(none)"
	// for requests no auth policy identified), within the series cap of
	// 10,000 consumer names, past which names share the "(overflow)"
	// series. Default false. It follows reloads.
	MetricsConsumerLabel bool `yaml:"metrics_consumer_label,omitempty"`
}

// IsLoopback reports whether a host:port names a loopback address only:
// a loopback IP literal or "localhost".
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (v *validator) admin(a *Admin) {
	if a.Listen == "" {
		return
	}
	if !v.hostPort("admin.listen", a.Listen, 0, false) {
		return
	}
	if !a.AllowRemote && !IsLoopback(a.Listen) {
		v.errf("admin.listen", "%q is not a loopback address: listen on 127.0.0.1, or set admin.allow_remote: true and a bearer token (admin.token_file or $SLUICE_ADMIN_TOKEN)", a.Listen)
	}
}
