package config

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want Size
		err  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"10MiB", 10 << 20, false},
		{"512KiB", 512 << 10, false},
		{"1m", 1 << 20, false},
		{"1M", 1 << 20, false},
		{"2k", 2 << 10, false},
		{"3g", 3 << 30, false},
		{"1t", 1 << 40, false},
		{"1GiB", 1 << 30, false},
		{"10 MiB", 10 << 20, false},
		{" 7b ", 7, false},
		{"1KB", 1000, false},
		{"1MB", 1000000, false},
		{"1gb", 1000000000, false},
		{"1TB", 1000000000000, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"1.5MiB", 0, true},
		{"10 parsecs", 0, true},
		{"1e3", 0, true},
		{"9223372036854775807", 1<<63 - 1, false},
		{"9223372036854775808", 0, true},
		{"9000000TiB", 0, true},
	}
	for _, c := range cases {
		got, err := ParseSize(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestSizeString(t *testing.T) {
	cases := []struct {
		in   Size
		want string
	}{{0, "0"}, {1, "1"}, {1500, "1500"}, {1 << 10, "1KiB"}, {10 << 20, "10MiB"}, {1536, "1536"}, {3 << 30, "3GiB"}, {1 << 40, "1TiB"}, {-5, "-5"}}
	for _, c := range cases {
		if got := c.in.String(); got != c.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(c.in), got, c.want)
		}
		if c.in >= 0 {
			if back, err := ParseSize(c.in.String()); err != nil || back != c.in {
				t.Errorf("ParseSize(%q) = %d, %v", c.in.String(), back, err)
			}
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"0", 0, false},
		{"5s", 5 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"1h", time.Hour, false},
		{"0s", 0, false},
		{"5", 0, true},
		{"", 0, true},
		{"-1s", 0, true},
		{"5 s", 0, true},
		{"forever", 0, true},
	}
	for _, c := range cases {
		got, err := ParseDuration(c.in)
		if (err != nil) != c.err || got.Std() != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestDurationString(t *testing.T) {
	cases := []struct {
		in   time.Duration
		want string
	}{{0, "0s"}, {time.Minute, "1m"}, {time.Hour, "1h"}, {90 * time.Minute, "1h30m"}, {75 * time.Second, "1m15s"}, {1500 * time.Millisecond, "1.5s"}, {time.Hour + time.Second, "1h0m1s"}}
	for _, c := range cases {
		if got := Duration(c.in).String(); got != c.want {
			t.Errorf("Duration(%v).String() = %q, want %q", c.in, got, c.want)
		}
		if back, err := ParseDuration(Duration(c.in).String()); err != nil || back.Std() != c.in {
			t.Errorf("ParseDuration(%q) = %v, %v", Duration(c.in).String(), back, err)
		}
	}
}

// TestUnitsWithPlainYAML checks that Size and Duration also decode and
// encode through yaml.v3 itself, for code that does not use this package's
// decoder.
func TestUnitsWithPlainYAML(t *testing.T) {
	var v struct {
		S Size     `yaml:"s"`
		B Size     `yaml:"b"`
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("s: 2MiB\nb: 1500\nd: 1m30s\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.S != 2<<20 || v.B != 1500 || v.D.Std() != 90*time.Second {
		t.Fatalf("decoded %+v", v)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "s: 2MiB\nb: 1500\nd: 1m30s\n" {
		t.Fatalf("encoded %q", out)
	}
	if err := yaml.Unmarshal([]byte("s: [1]\n"), &v); err == nil {
		t.Fatal("a list decoded as a Size")
	}
}
