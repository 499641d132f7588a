package harness

import (
	"os"
	"os/exec"
	"testing"
)

// requireTool skips a test whose program is missing on a developer's
// machine, and fails it under CI=true: `make test` installs the programs
// (scripts/install-test-deps.sh), so a missing one there is a broken
// setup, not a reason to pass quietly.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		missing(t, name+" not installed (make test and bench/run.sh install it)")
	}
}

// requireFile is requireTool for a file a package installs.
func requireFile(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, pkg+" not installed ("+path+")")
	}
}

func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
