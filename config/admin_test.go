package config

import (
	"strings"
	"testing"
)

func TestAdminSection(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		wantErr    string // "" for accepted
		listen     string
	}{
		{"absent: no listener", "listen: :8080\n", "", ""},
		{"loopback v4", "admin: { listen: 127.0.0.1:9901 }\n", "", "127.0.0.1:9901"},
		{"loopback v6", "admin: { listen: \"[::1]:9901\" }\n", "", "[::1]:9901"},
		{"localhost", "admin: { listen: localhost:9901 }\n", "", "localhost:9901"},
		{"every interface refused", "admin: { listen: \":9901\" }\n", "admin.listen", ""},
		{"0.0.0.0 refused", "admin: { listen: 0.0.0.0:9901 }\n", "not a loopback address", ""},
		{"remote refused", "admin: { listen: 10.0.0.5:9901 }\n", "allow_remote", ""},
		{"remote allowed", "admin: { listen: 0.0.0.0:9901, allow_remote: true }\n", "", "0.0.0.0:9901"},
		{"bad address", "admin: { listen: nope }\n", "host:port", ""},
		{"unknown field", "admin: { listen: 127.0.0.1:1, token: x }\n", "token", ""},
	} {
		cfg, err := Parse([]byte(tc.yaml), "t.yaml")
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.wantErr)
		case err == nil && cfg.Admin.Listen != tc.listen:
			t.Errorf("%s: listen %q, want %q", tc.name, cfg.Admin.Listen, tc.listen)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.9.9.9:1": true, "[::1]:1": true, "localhost:1": true,
		"[::ffff:127.0.0.1]:1": true, ":1": false, "0.0.0.0:1": false, "[::]:1": false,
		"10.0.0.1:1": false, "example.com:1": false, "127.0.0.1": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
