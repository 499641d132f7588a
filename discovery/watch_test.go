package discovery

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTokenBucketLimitsTheLoop(t *testing.T) {
	b := newTokenBucket(20, 2)
	start := time.Now()
	for range 12 {
		if err := b.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// 2 from the burst, then 10 at 20/s: at least 500ms.
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Fatalf("12 turns took %v, want >= ~500ms", d)
	}
}

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	max := 2 * time.Second
	for n := 1; n < 20; n++ {
		want := min(backoffMin<<(n-1), max)
		if n > 10 {
			want = max
		}
		for range 50 {
			d := backoff(n, max)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestDumpRoundTripIsAtomic(t *testing.T) {
	dir := t.TempDir()
	k := sourceKey{typ: "consul_kv", key: "upstreams/test"}
	ts := []Target{{Addr: "[fd00::1]:80", Weight: 2, MaxFails: 2, FailTimeoutSeconds: 10, Backup: true, From: "upstreams/test/[fd00::1]:80"}}
	if err := writeDump(dir, k, ts, 42); err != nil {
		t.Fatal(err)
	}
	df, err := readDump(dir, k)
	if err != nil || df.Index != 42 || len(df.Targets) != 1 || df.Targets[0] != ts[0] {
		t.Fatalf("read %+v, %v", df, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || filepath.Ext(entries[0].Name()) != ".json" {
		t.Fatalf("dir holds %v, want one dump and no temporary file", entries)
	}
	if _, err := readDump(dir, sourceKey{typ: "consul", service: "users"}); err == nil {
		t.Fatal("a missing dump was read")
	}
	os.WriteFile(dumpPath(dir, k), []byte(`{"source":"consul_kv:upstreams/test","targets":[{"addr":"nope"}]}`), 0o600)
	if _, err := readDump(dir, k); err == nil {
		t.Fatal("a dump with a bad target was accepted")
	}
}

func TestSourceKeyNames(t *testing.T) {
	for k, want := range map[sourceKey]string{
		{typ: "consul_kv", key: "upstreams/test"}:    "consul_kv:upstreams/test",
		{typ: "consul", service: "users"}:            "consul:users",
		{typ: "consul", service: "users", tag: "v2"}: "consul:users?tag=v2",
	} {
		if got := k.String(); got != want {
			t.Errorf("%+v: %q, want %q", k, got, want)
		}
	}
}
