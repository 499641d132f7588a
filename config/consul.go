package config

import (
	"fmt"
	"strconv"
	"time"
)

// Consul is the top-level "consul:" section: the Consul agent that
// discovery sources (Upstream.Discovery, package discovery) watch. Absent, no
// upstream may use discovery.
//
// The token, however it is given, never appears in an error, a log line or
// a String of the section. A Consul value is not safe for concurrent
// mutation; Validate fills it once.
type Consul struct {
	// Address is the agent's HTTP API, host:port. Default "127.0.0.1:8500".
	Address string `yaml:"address"`
	// Token is the ACL token sent with every query. Default "": none.
	// Exclusive with TokenFile.
	Token string `yaml:"token,omitempty"`
	// TokenFile names a file holding the token (trailing newlines are cut),
	// read by Validate. Default "". Exclusive with Token.
	TokenFile string `yaml:"token_file,omitempty"`
	// Datacenter queried. Default "": the agent's own.
	Datacenter string `yaml:"datacenter,omitempty"`
	// TLS, when present, speaks HTTPS to the agent. Default nil: plain HTTP.
	TLS *ConsulTLS `yaml:"tls,omitempty"`
	// DumpDir is where the discovered targets of every source are written
	// (atomically, on every change) and read back at start when Consul
	// cannot be reached. Default "": no dump.
	DumpDir string `yaml:"dump_dir,omitempty"`
	// Wait is the longest a blocking query waits for a change before Consul
	// answers anyway. Default 60s; 1s..10m.
	Wait Duration `yaml:"wait"`
	// StartTimeout bounds the first answer of each source at start (and for
	// a source a reload adds); past it the dump is used or, for a required
	// source, the start fails. Default 5s.
	StartTimeout Duration `yaml:"start_timeout"`
	// RateLimit caps the queries per second of each watch (a token bucket
	// with a burst of the same size), so an index that keeps changing or
	// going backwards cannot spin a loop. Default 10; 1..1000.
	RateLimit int `yaml:"rate_limit"`
	// RetryMax caps the exponential backoff (from 100ms, with jitter)
	// between queries while Consul fails. Default 30s.
	RetryMax Duration `yaml:"retry_max"`

	fileToken string // content of TokenFile, read by Validate
}

// ConsulTLS configures HTTPS to the Consul agent. The server certificate is
// verified against CAFile (else the system roots) unless InsecureSkipVerify.
type ConsulTLS struct {
	// CAFile is a PEM bundle of the CAs that sign the agent's certificate.
	// Default "": the system roots.
	CAFile string `yaml:"ca_file,omitempty"`
	// CertFile and KeyFile are the client certificate and key, both or
	// neither (for verify_incoming agents). Default "".
	CertFile string `yaml:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty"`
	// ServerName overrides the name checked in the agent's certificate.
	// Default "": the host of Address.
	ServerName string `yaml:"server_name,omitempty"`
	// InsecureSkipVerify accepts any server certificate. Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty"`
}

// Discovery types accepted by Discovery.Type.
const (
	DiscoveryConsulKV = "consul_kv" // nginx-upsync's KV layout under Key
	DiscoveryConsul   = "consul"    // the catalog's passing instances of Service
)

// Discovery makes an upstream follow a source of targets instead of (or
// on top of) its static targets: Consul KV in nginx-upsync's layout, or the
// Consul catalog. The static targets, if any, serve until the first answer.
type Discovery struct {
	// Type is consul_kv or consul. Required.
	Type string `yaml:"type"`
	// Key is the KV prefix holding one key per server
	// ("upstreams/test" reads "upstreams/test/10.0.0.1:8080").
	// Required by consul_kv, refused by consul.
	Key string `yaml:"key,omitempty"`
	// Service is the catalog service name. Required by consul, refused by
	// consul_kv.
	Service string `yaml:"service,omitempty"`
	// Tag keeps only the instances with this tag. Default "": all. consul
	// only.
	Tag string `yaml:"tag,omitempty"`
	// Filter is a Consul filter expression on the health entries
	// (`Service.Meta.zone == "a"`). Default "": none. consul only.
	Filter string `yaml:"filter,omitempty"`
	// AllowEmpty lets an empty answer (no key, no passing instance, every
	// target down) empty the upstream. Default false: the last known
	// targets stay, as nginx-upsync refuses to delete every peer.
	AllowEmpty bool `yaml:"allow_empty,omitempty"`
	// Required fails the start when Consul cannot answer for this source
	// within consul.start_timeout, even with a dump (nginx-upsync's
	// strong_dependency). Default false: the dump, else the static targets,
	// serve until Consul answers.
	Required bool `yaml:"required,omitempty"`
}

// AuthToken returns the ACL token: Token, or the content of TokenFile as
// Validate read it; "" for none.
func (c *Consul) AuthToken() string {
	if c.Token != "" {
		return c.Token
	}
	return c.fileToken
}

// String describes the section without its token.
func (c Consul) String() string {
	auth := "none"
	switch {
	case c.Token != "":
		auth = "token"
	case c.TokenFile != "":
		auth = "token_file " + strconv.Quote(c.TokenFile)
	}
	return fmt.Sprintf("consul{address: %s, datacenter: %q, auth: %s, tls: %t, dump_dir: %q}",
		c.Address, c.Datacenter, auth, c.TLS != nil, c.DumpDir)
}

// GoString is String, for %#v.
func (c Consul) GoString() string { return c.String() }

// Defaults of the consul section, as documented on its fields.
const (
	defaultConsulAddress      = "127.0.0.1:8500"
	defaultConsulWait         = Duration(60 * time.Second)
	defaultConsulStartTimeout = Duration(5 * time.Second)
	defaultConsulRateLimit    = 10
	defaultConsulRetryMax     = Duration(30 * time.Second)
)

func (v *validator) consul(c *Consul) {
	if c == nil {
		return
	}
	const p = "consul"
	if c.Address == "" {
		c.Address = defaultConsulAddress
	}
	v.hostPort(p+".address", c.Address, 1, true)
	c.fileToken = ""
	switch {
	case c.Token != "" && c.TokenFile != "":
		v.errf(p+".token_file", "is exclusive with token; set one of them")
	case c.TokenFile != "":
		tok, err := readPasswordFile(c.TokenFile)
		if err != nil {
			v.errf(p+".token_file", "%s", err)
		} else {
			c.fileToken = tok
		}
	}
	v.duration(p+".wait", &c.Wait, defaultConsulWait)
	if c.Wait < Duration(time.Second) || c.Wait > Duration(10*time.Minute) {
		v.errf(p+".wait", "must be between 1s and 10m, got %s", c.Wait)
	}
	v.duration(p+".start_timeout", &c.StartTimeout, defaultConsulStartTimeout)
	v.intDefault(p+".rate_limit", &c.RateLimit, defaultConsulRateLimit, 1, 1000)
	v.duration(p+".retry_max", &c.RetryMax, defaultConsulRetryMax)
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		v.errf(p+".tls.cert_file", "cert_file and key_file go together; set both or neither")
	}
}

// consulAndDiscovery checks the consul section and every upstream's
// discovery section.
func (v *validator) consulAndDiscovery(c *Config) {
	v.consul(c.Consul)
	for i := range c.Upstreams {
		v.discovery(c.Upstreams[i].Discovery, "upstreams["+strconv.Itoa(i)+"]", c)
	}
}

// discovery checks an upstream's discovery section; p is the upstream's
// path.
func (v *validator) discovery(d *Discovery, p string, c *Config) {
	if d == nil {
		return
	}
	p += ".discovery"
	if c.Consul == nil {
		v.errf(p, "needs the top-level consul section (consul: {address: 127.0.0.1:8500})")
	}
	v.oneOf(p+".type", &d.Type, "", DiscoveryConsulKV, DiscoveryConsul)
	switch d.Type {
	case DiscoveryConsulKV:
		if d.Key == "" || d.Key[0] == '/' || d.Key[len(d.Key)-1] == '/' {
			v.errf(p+".key", "is required by consul_kv: the KV prefix without leading or trailing slash (upstreams/NAME), got %q", d.Key)
		}
		for _, f := range [...]struct{ name, val string }{{"service", d.Service}, {"tag", d.Tag}, {"filter", d.Filter}} {
			if f.val != "" {
				v.errf(p+"."+f.name, "is only used by type consul, not by consul_kv")
			}
		}
	case DiscoveryConsul:
		if d.Service == "" {
			v.errf(p+".service", "is required by type consul")
		}
		if d.Key != "" {
			v.errf(p+".key", "is only used by type consul_kv, not by consul")
		}
	}
}
