package shm

import (
	"errors"
	"maps"
	"math"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"512", 512},
		{"512b", 512},
		{"512k", 512 << 10},
		{"512K", 512 << 10},
		{"1m", 1 << 20},
		{"10MiB", 10 << 20},
		{"10MB", 10 << 20},
		{"10 mib", 10 << 20},
		{" 2g ", 2 << 30},
		{"3GiB", 3 << 30},
		{"1t", 1 << 40},
		{"8388607TiB", 8388607 << 40},
		{"9223372036854775807", math.MaxInt64},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "k", "-1", "+1", "1.5m", "10 MiBs", "10x", "1e6", "8388608TiB",
		"9223372036854775808", "99999999999999999999", "0x10",
	} {
		if got, err := ParseSize(in); !errors.Is(err, ErrBadSize) {
			t.Errorf("ParseSize(%q) = %d, %v; want ErrBadSize", in, got, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10MiB", "512k", "1m", "0", "9223372036854775807", "8388608TiB", " 3 g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if !errors.Is(err, ErrBadSize) {
				t.Fatalf("ParseSize(%q) error %v does not wrap ErrBadSize", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
	})
}

func TestSizeText(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		out  string
	}{
		{"10MiB", 10 << 20, "10MiB"},
		{"512k", 512 << 10, "512KiB"},
		{"1000", 1000, "1000B"},
		{"1025k", 1025 << 10, "1025KiB"},
		{"0", 0, "0B"},
		{"2048t", 2048 << 40, "2048TiB"},
	}
	for _, tt := range tests {
		var s Size
		if err := s.UnmarshalText([]byte(tt.in)); err != nil || s != tt.want {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", tt.in, s, err, tt.want)
		}
		out, _ := s.MarshalText()
		if string(out) != tt.out {
			t.Errorf("MarshalText(%d) = %q, want %q", s, out, tt.out)
		}
		var back Size
		if err := back.UnmarshalText(out); err != nil || back != s {
			t.Errorf("round trip of %q gave %d, %v", out, back, err)
		}
	}
	var s Size = 7
	if err := s.UnmarshalText([]byte("7 parsecs")); !errors.Is(err, ErrBadSize) || s != 7 {
		t.Errorf("bad text: %v, size now %d", err, s)
	}
}

// TestSizeFromYAML pins that the config decoder accepts sizes as written in
// the issue: shared_dicts: {limits: 10MiB}.
func TestSizeFromYAML(t *testing.T) {
	var cfg struct {
		SharedDicts map[string]Size `yaml:"shared_dicts"`
	}
	if err := yaml.Unmarshal([]byte("shared_dicts: {limits: 10MiB, cache: 512k, raw: 4096}"), &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]Size{"limits": 10 << 20, "cache": 512 << 10, "raw": 4096}
	if !maps.Equal(cfg.SharedDicts, want) {
		t.Fatalf("decoded %v, want %v", cfg.SharedDicts, want)
	}
	if err := yaml.Unmarshal([]byte("shared_dicts: {limits: 10 furlongs}"), &cfg); !errors.Is(err, ErrBadSize) {
		t.Fatalf("bad size in YAML: %v", err)
	}
}
