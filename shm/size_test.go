package shm

import (
	"errors"
	"math"
	"testing"
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
