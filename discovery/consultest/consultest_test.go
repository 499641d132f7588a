package consultest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBinaryLookup(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PATH", t.TempDir())
	t.Setenv("SLUICE_CONSUL", "")
	if _, err := Binary(); err == nil {
		t.Fatal("found a consul where there is none")
	}
	cached := filepath.Join(home, ".cache", "sluice", "consul-"+Version)
	os.MkdirAll(filepath.Dir(cached), 0o755)
	os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o755)
	if p, err := Binary(); err != nil || p != cached {
		t.Fatalf("Binary() = %q, %v; want the cache %q", p, err, cached)
	}
	t.Setenv("SLUICE_CONSUL", filepath.Join(home, "missing"))
	if _, err := Binary(); err == nil {
		t.Fatal("a missing $SLUICE_CONSUL was accepted")
	}
}

func TestAgentStartsStopsAndRestarts(t *testing.T) {
	a := Start(t)
	addr := a.Addr()
	a.Kill()
	a.Restart()
	if a.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", a.Addr(), addr)
	}
	a.Stop()
	a.Stop() // twice: nothing
}
