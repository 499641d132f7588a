package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Redis modes accepted by Redis.Mode.
const (
	RedisStandalone = "standalone" // one server
	RedisCluster    = "cluster"    // Redis Cluster; addresses seed the slot map
	RedisSentinel   = "sentinel"   // addresses are sentinels watching MasterName
)

// Redis is the top-level "redis:" section: the one Redis client a gateway
// process shares between every policy that keeps counters or cache entries
// in Redis (package redis). Absent, no client is made and policies that need
// one refuse their configuration.
//
// The password, however it is given, never appears in an error, a log line
// or a String of the section. A Redis value is not safe for concurrent
// mutation; Validate fills it once.
type Redis struct {
	// Addresses are host:port pairs: the server (standalone, exactly one),
	// seed nodes (cluster) or sentinels (sentinel). Required when the
	// section is present.
	Addresses []string `yaml:"addresses"`
	// Mode is standalone, cluster or sentinel. Default "standalone".
	Mode string `yaml:"mode"`
	// MasterName is the master set the sentinels watch. Required by
	// sentinel mode, refused by the others.
	MasterName string `yaml:"master_name,omitempty"`
	// Username for AUTH (Redis 6 ACL). Default "": the default user. Needs
	// a password.
	Username string `yaml:"username,omitempty"`
	// Password for AUTH. Default "": no AUTH. Exclusive with PasswordFile.
	Password string `yaml:"password,omitempty"`
	// PasswordFile names a file holding the password (trailing newlines
	// are cut), read by Validate; a relative name is relative to the
	// working directory. Default "". Exclusive with Password.
	PasswordFile string `yaml:"password_file,omitempty"`
	// Database is the logical database SELECTed on every connection,
	// 0..15. Default 0. Refused in cluster mode, which only has database 0.
	Database int `yaml:"database"`
	// DialTimeout bounds connecting to one server, AUTH and SELECT
	// included. Default 1s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// ReadTimeout bounds every call, even one whose context has no
	// deadline: a slow or stuck Redis gives an error after it. Default
	// 500ms.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writes to a connection and its liveness pings; a
	// connection that stays silent that long is closed and dialled again.
	// Default 500ms.
	WriteTimeout Duration `yaml:"write_timeout"`
	// PoolSize caps the connections of the pool used by blocking commands
	// and by calls that cannot be pipelined (rueidis BlockingPoolSize); the
	// ordinary calls share a few pipelined connections. 1..10000. Default
	// 64.
	PoolSize int `yaml:"pool_size"`
	// TLS connects with TLS, verifying the server certificate against the
	// system roots and the address's host name. Default false.
	TLS bool `yaml:"tls"`

	// filePassword is the content of PasswordFile, read by Validate.
	filePassword string
}

// AuthPassword returns the password to AUTH with: Password, or the content
// of PasswordFile as Validate read it; "" for none.
func (r *Redis) AuthPassword() string {
	if r.Password != "" {
		return r.Password
	}
	return r.filePassword
}

// String describes the section without its password, so that printing a
// Redis value with %v cannot leak it.
func (r Redis) String() string {
	auth := "none"
	switch {
	case r.Password != "":
		auth = "password"
	case r.PasswordFile != "":
		auth = "password_file " + strconv.Quote(r.PasswordFile)
	}
	return fmt.Sprintf("redis{mode: %s, addresses: %q, master_name: %q, username: %q, auth: %s, database: %d, tls: %t}",
		r.Mode, r.Addresses, r.MasterName, r.Username, auth, r.Database, r.TLS)
}

// GoString is String, for %#v.
func (r Redis) GoString() string { return r.String() }

// Defaults of the redis section, as documented on its fields.
const (
	defaultRedisDialTimeout  = Duration(time.Second)
	defaultRedisReadTimeout  = Duration(500 * time.Millisecond)
	defaultRedisWriteTimeout = Duration(500 * time.Millisecond)
	defaultRedisPoolSize     = 64
	// maxPasswordFile caps what Validate reads of a password file: a
	// password is short, and a device or a huge file named by mistake must
	// not stall or bloat the load.
	maxPasswordFile = 4 << 10
)

func (v *validator) redis(r *Redis) {
	if r == nil {
		return
	}
	const p = "redis"
	v.oneOf(p+".mode", &r.Mode, RedisStandalone, RedisStandalone, RedisCluster, RedisSentinel)
	switch {
	case len(r.Addresses) == 0:
		v.errf(p+".addresses", "at least one host:port is required")
	case len(r.Addresses) > 1 && r.Mode == RedisStandalone:
		v.errf(p+".addresses", "standalone mode takes one address, got %d; list several with mode: cluster or sentinel", len(r.Addresses))
	}
	seen := make(map[string]int, len(r.Addresses))
	for i, addr := range r.Addresses {
		ap := p + ".addresses[" + strconv.Itoa(i) + "]"
		if !v.hostPort(ap, addr, 1, true) {
			continue
		}
		if first, dup := seen[addr]; dup {
			v.errf(ap, "duplicate address %q (first at addresses[%d])", addr, first)
		} else {
			seen[addr] = i
		}
	}
	switch {
	case r.Mode == RedisSentinel && r.MasterName == "":
		v.errf(p+".master_name", "is required by sentinel mode")
	case r.Mode != RedisSentinel && r.MasterName != "":
		v.errf(p+".master_name", "is only used by sentinel mode, not by %q", r.Mode)
	}
	v.redisPassword(r, p)
	v.intRange(p+".database", r.Database, 0, 15)
	if r.Database != 0 && r.Mode == RedisCluster {
		v.errf(p+".database", "must be 0 in cluster mode (Redis Cluster has only database 0), got %d", r.Database)
	}
	v.duration(p+".dial_timeout", &r.DialTimeout, defaultRedisDialTimeout)
	v.duration(p+".read_timeout", &r.ReadTimeout, defaultRedisReadTimeout)
	v.duration(p+".write_timeout", &r.WriteTimeout, defaultRedisWriteTimeout)
	v.intDefault(p+".pool_size", &r.PoolSize, defaultRedisPoolSize, 1, 10000)
}

// redisPassword checks the credentials and reads the password file. No
// message here may quote a password: they name fields, never values.
func (v *validator) redisPassword(r *Redis, p string) {
	r.filePassword = ""
	switch {
	case r.Password != "" && r.PasswordFile != "":
		v.errf(p+".password_file", "is exclusive with password; set one of them")
		return
	case r.PasswordFile != "":
		pw, err := readPasswordFile(r.PasswordFile)
		if err != nil {
			v.errf(p+".password_file", "%s", err)
			return
		}
		r.filePassword = pw
	}
	if r.Username != "" && r.AuthPassword() == "" {
		v.errf(p+".username", "needs password or password_file")
	}
}

// readPasswordFile returns the content of a regular file of at most
// maxPasswordFile bytes, without trailing CR and LF. Its errors quote the
// file name, never its content.
func readPasswordFile(name string) (string, error) {
	// Stat before opening: opening a FIFO would block until a writer comes.
	st, err := os.Stat(name)
	if err != nil {
		return "", fmt.Errorf("cannot read the password file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%q must be a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("cannot read the password file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("cannot read the password file %q: %v", name, err)
	case len(data) > maxPasswordFile:
		return "", fmt.Errorf("%q is larger than %d bytes; it must hold only the password", name, maxPasswordFile)
	}
	data = bytes.TrimRight(data, "\r\n")
	if len(data) == 0 {
		return "", fmt.Errorf("%q is empty", name)
	}
	return string(data), nil
}
