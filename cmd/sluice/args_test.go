package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidatePositionalFile pins the bug where "sluice validate FILE"
// ignored FILE and checked ./sluice.yaml instead.
func TestValidatePositionalFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeConfig(t, good, "127.0.0.1:0", "127.0.0.1:1")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("routes:\n  - upstream: users\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if code := run([]string{"validate", good}, &out); code != 0 || !strings.Contains(out.String(), good+": ok") {
		t.Fatalf("validate %s: exit %d, want 0 and an ok for that file:\n%s", good, code, out.String())
	}
	out.Reset()
	if code := run([]string{"validate", bad}, &out); code != 1 || !strings.Contains(out.String(), bad+":2: routes[0].upstream") {
		t.Fatalf("validate %s: exit %d, want 1 and its error:\n%s", bad, code, out.String())
	}
}

// TestStrayArgumentsRefused pins the bug where every command ignored the
// arguments flag parsing left over: a second file, a value without its
// flag, or flags written after an argument (which Go's flag package does
// not read). Each case would otherwise fail differently (a missing file:
// exit 1; no --to: another message), so the exit status and the message
// both tell the refusal apart.
func TestStrayArgumentsRefused(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeConfig(t, good, "127.0.0.1:0", "127.0.0.1:1")
	missing := filepath.Join(dir, "missing.yaml")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"validate with -c and a file", []string{"validate", "-c", missing, good},
			`sluice validate: two files given, -c "` + missing + `" and "` + good + `": give one, as -c FILE or as FILE`},
		{"validate with two files", []string{"validate", good, missing},
			`sluice validate: unexpected argument "` + missing + `": validate checks one file, given as -c FILE or as FILE; flags go before any argument`},
		{"validate with a flag after the file", []string{"validate", good, "-c", missing},
			`sluice validate: unexpected arguments "-c" "` + missing + `"`},
		{"run with a file argument", []string{"-c", missing, good},
			`sluice run: unexpected argument "` + good + `": run takes no arguments, the config file is -c FILE; flags go before any argument`},
		{"run subcommand with a flag after an argument", []string{"run", "-c", missing, "x", "-workers", "4"},
			`sluice run: unexpected arguments "x" "-workers" "4"`},
		{"proxy", []string{"proxy", "--listen", "127.0.0.1:0", "127.0.0.1:1"},
			`sluice proxy: unexpected argument "127.0.0.1:1": proxy takes no arguments, the upstreams are --to ADDR[,ADDR...]`},
		{"apply", []string{"apply", "-f", missing, good},
			`sluice apply: unexpected argument "` + good + `": apply takes no arguments, the file is -f FILE`},
		{"apply to Consul", []string{"apply", "-consul", "127.0.0.1:1", "-f", missing, "--dry-run", "x"},
			`sluice apply: unexpected argument "x"`},
		{"apply with the file as the argument", []string{"apply", good},
			`sluice apply: unexpected argument "` + good + `": apply takes no arguments, the file is -f FILE`},
		{"diff", []string{"diff", "-f", missing, good},
			`sluice diff: unexpected argument "` + good + `": diff takes no arguments, the file is -f FILE`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			code := run(tc.args, &out)
			if code != 2 || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("sluice %s: exit %d, want 2 and %q:\n%s", strings.Join(tc.args, " "), code, tc.want, out.String())
			}
		})
	}
}
