package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretPassword is the password of every test config here; no error text
// may contain it.
const secretPassword = "s3cr3t-Pa55"

func TestRedisAccepted(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(secretPassword+"\r\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		yaml  string
		check func(t *testing.T, r *Redis)
	}{
		{
			name: "standalone defaults",
			yaml: "redis:\n  addresses: [\"127.0.0.1:6379\"]\n",
			check: func(t *testing.T, r *Redis) {
				want := Redis{Addresses: []string{"127.0.0.1:6379"}, Mode: RedisStandalone,
					DialTimeout: Duration(time.Second), ReadTimeout: Duration(500 * time.Millisecond),
					WriteTimeout: Duration(500 * time.Millisecond), PoolSize: 64}
				if r.String() != want.String() || r.DialTimeout != want.DialTimeout || r.ReadTimeout != want.ReadTimeout ||
					r.WriteTimeout != want.WriteTimeout || r.PoolSize != want.PoolSize || r.AuthPassword() != "" {
					t.Errorf("got %v dial=%s read=%s write=%s pool=%d", r, r.DialTimeout, r.ReadTimeout, r.WriteTimeout, r.PoolSize)
				}
			},
		},
		{
			name: "standalone with everything",
			yaml: `redis:
  addresses: ["redis.internal:6380"]
  mode: standalone
  username: gw
  password: ` + secretPassword + `
  database: 15
  dial_timeout: 2s
  read_timeout: 50ms
  write_timeout: 1s
  pool_size: 8
  tls: true
`,
			check: func(t *testing.T, r *Redis) {
				if r.Database != 15 || r.DialTimeout.Std() != 2*time.Second || r.ReadTimeout.Std() != 50*time.Millisecond ||
					r.WriteTimeout.Std() != time.Second || r.PoolSize != 8 || !r.TLS || r.Username != "gw" || r.AuthPassword() != secretPassword {
					t.Errorf("got %v", r)
				}
			},
		},
		{
			name: "password file trailing newlines cut",
			yaml: "redis:\n  addresses: [\"127.0.0.1:6379\"]\n  password_file: " + pwFile + "\n",
			check: func(t *testing.T, r *Redis) {
				if r.AuthPassword() != secretPassword || r.Password != "" {
					t.Errorf("AuthPassword() = %q, Password = %q", r.AuthPassword(), r.Password)
				}
			},
		},
		{
			name: "cluster with several seeds",
			yaml: "redis:\n  mode: cluster\n  addresses: [\"10.0.0.1:7000\", \"10.0.0.2:7000\", \"[::1]:7000\"]\n",
			check: func(t *testing.T, r *Redis) {
				if r.Mode != RedisCluster || len(r.Addresses) != 3 {
					t.Errorf("got %v", r)
				}
			},
		},
		{
			name: "sentinel with database",
			yaml: "redis:\n  mode: sentinel\n  master_name: mymaster\n  addresses: [\"s1:26379\", \"s2:26379\"]\n  database: 3\n",
			check: func(t *testing.T, r *Redis) {
				if r.Mode != RedisSentinel || r.MasterName != "mymaster" || r.Database != 3 {
					t.Errorf("got %v", r)
				}
			},
		},
		{
			name: "null section is absent",
			yaml: "redis:\n",
			check: func(t *testing.T, r *Redis) {
				if r != nil {
					t.Errorf("got %v, want nil", r)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), "t.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, cfg.Redis)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate again: %v", err)
			}
			if cfg.Redis != nil && strings.Contains(fmt.Sprintf("%v %+v %#v %s", cfg.Redis, *cfg.Redis, cfg.Redis, cfg.Redis), secretPassword) {
				t.Errorf("formatting the section shows the password")
			}
		})
	}
}

func TestRedisRefused(t *testing.T) {
	dir := t.TempDir()
	emptyFile := filepath.Join(dir, "empty")
	bigFile := filepath.Join(dir, "big")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bigFile, []byte(strings.Repeat(secretPassword, 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	const addr = "  addresses: [\"127.0.0.1:6379\"]\n"
	cases := []struct {
		name string
		yaml string
		want string // the whole error text
	}{
		{"empty section", "redis: {}\n",
			`t.yaml:1: redis.addresses: at least one host:port is required`},
		{"bad address", "redis:\n  mode: cluster\n  addresses: [\"localhost\", \"a:0\", \":6379\"]\n",
			`t.yaml:3: redis.addresses[0]: must be host:port, got "localhost"` + "\n" +
				`t.yaml:3: redis.addresses[1]: port must be between 1 and 65535, got "a:0"` + "\n" +
				`t.yaml:3: redis.addresses[2]: must have a host, got ":6379"`},
		{"duplicate address", "redis:\n  mode: cluster\n  addresses:\n    - a:1\n    - a:1\n",
			`t.yaml:5: redis.addresses[1]: duplicate address "a:1" (first at addresses[0])`},
		{"standalone with two addresses", "redis:\n  addresses: [\"a:1\", \"b:1\"]\n",
			`t.yaml:2: redis.addresses: standalone mode takes one address, got 2; list several with mode: cluster or sentinel`},
		{"unknown mode", "redis:\n" + addr + "  mode: replica\n",
			`t.yaml:3: redis.mode: must be one of standalone, cluster, sentinel; got "replica"`},
		{"sentinel without master_name", "redis:\n" + addr + "  mode: sentinel\n",
			`t.yaml:1: redis.master_name: is required by sentinel mode`},
		{"master_name outside sentinel", "redis:\n" + addr + "  master_name: m\n",
			`t.yaml:3: redis.master_name: is only used by sentinel mode, not by "standalone"`},
		{"password and password_file", "redis:\n" + addr + "  password: " + secretPassword + "\n  password_file: /etc/hostname\n",
			`t.yaml:4: redis.password_file: is exclusive with password; set one of them`},
		{"missing password_file", "redis:\n" + addr + "  password_file: " + filepath.Join(dir, "nope") + "\n",
			`t.yaml:3: redis.password_file: cannot read the password file: stat ` + filepath.Join(dir, "nope") + `: no such file or directory`},
		{"password_file is a directory", "redis:\n" + addr + "  password_file: " + dir + "\n",
			`t.yaml:3: redis.password_file: "` + dir + `" must be a regular file`},
		{"empty password_file", "redis:\n" + addr + "  password_file: " + emptyFile + "\n",
			`t.yaml:3: redis.password_file: "` + emptyFile + `" is empty`},
		{"huge password_file", "redis:\n" + addr + "  password_file: " + bigFile + "\n",
			`t.yaml:3: redis.password_file: "` + bigFile + `" is larger than 4096 bytes; it must hold only the password`},
		{"username without password", "redis:\n" + addr + "  username: gw\n",
			`t.yaml:3: redis.username: needs password or password_file`},
		{"database out of range", "redis:\n" + addr + "  database: 16\n",
			`t.yaml:3: redis.database: must be between 0 and 15, got 16`},
		{"database in cluster mode", "redis:\n  mode: cluster\n  addresses: [\"a:1\"]\n  database: 2\n",
			`t.yaml:4: redis.database: must be 0 in cluster mode (Redis Cluster has only database 0), got 2`},
		{"bad duration", "redis:\n" + addr + "  read_timeout: 500\n",
			`t.yaml:3: redis.read_timeout: must be a duration like "5s", "1m30s" or "250ms", got "500"`},
		{"pool too large", "redis:\n" + addr + "  pool_size: 10001\n",
			`t.yaml:3: redis.pool_size: must be between 1 and 10000, got 10001`},
		{"negative pool", "redis:\n" + addr + "  pool_size: -1\n",
			`t.yaml:3: redis.pool_size: must be between 1 and 10000, got -1`},
		{"tls not a bool", "redis:\n" + addr + "  tls: yes please\n",
			`t.yaml:3: redis.tls: must be true or false, got "yes please"`},
		{"password not a string", "redis:\n" + addr + "  password: [" + secretPassword + "]\n",
			`t.yaml:3: redis.password: must be a string, got a list`},
		{"misspelt password key", "redis:\n" + addr + "  pasword: " + secretPassword + "\n",
			`t.yaml:3: redis: unknown field "pasword" (did you mean "password"?)`},
		{"not a mapping", "redis: [\"a:1\"]\n",
			`t.yaml:1: redis: must be a mapping, got a list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "t.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error wraps no ErrInvalid: %v", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Contains(err.Error(), secretPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestRedisGoBuilt validates a section built in Go: defaults filled, errors
// without lines, and a second Validate (idempotence) still accepted with a
// password file.
func TestRedisGoBuilt(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(secretPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Redis: &Redis{Addresses: []string{"127.0.0.1:6379"}, PasswordFile: pwFile}}
	for i := range 2 {
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Validate #%d: %v", i+1, err)
		}
	}
	if r := cfg.Redis; r.Mode != RedisStandalone || r.PoolSize != 64 || r.AuthPassword() != secretPassword {
		t.Errorf("got %v pool=%d", r, r.PoolSize)
	}
	bad := &Config{Redis: &Redis{Mode: RedisCluster, Database: 1, Addresses: []string{"a:1"}, Password: secretPassword, PasswordFile: pwFile}}
	err := bad.Validate()
	want := "redis.password_file: is exclusive with password; set one of them\n" +
		"redis.database: must be 0 in cluster mode (Redis Cluster has only database 0), got 1"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}
