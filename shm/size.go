package shm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a byte size as written in configuration: a non-negative
// decimal integer followed by an optional unit, case-insensitive, with
// optional spaces between the number and the unit.
//
// Units follow nginx: every multiple is binary (powers of 1024), whether
// spelled with or without the "i":
//
//	"" or b            bytes
//	k, kb, kib         1024
//	m, mb, mib         1024²
//	g, gb, gib         1024³
//	t, tb, tib         1024⁴
//
// So "10MiB", "10m" and "10MB" are all 10485760. Fractions ("1.5m"),
// signs, and results above math.MaxInt64 are refused with an error wrapping
// ErrBadSize.
func ParseSize(s string) (int64, error) {
	in := s
	s = strings.TrimSpace(s)
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	if digits == 0 {
		return 0, fmt.Errorf("%w: %q: want a number of bytes like 512k or 10MiB", ErrBadSize, in)
	}
	var n int64
	for _, c := range []byte(s[:digits]) {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("%w: %q overflows int64", ErrBadSize, in)
		}
		n = n*10 + d
	}
	shift, ok := sizeUnitShift(strings.ToLower(strings.TrimSpace(s[digits:])))
	if !ok {
		return 0, fmt.Errorf("%w: %q: unknown unit (want b, k, kb, kib, m, mb, mib, g, gb, gib, t, tb, tib)", ErrBadSize, in)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%w: %q overflows int64", ErrBadSize, in)
	}
	return n << shift, nil
}

// sizeUnitShift maps a lower-case unit to its power-of-two shift.
func sizeUnitShift(unit string) (uint, bool) {
	switch unit {
	case "", "b":
		return 0, true
	case "k", "kb", "kib":
		return 10, true
	case "m", "mb", "mib":
		return 20, true
	case "g", "gb", "gib":
		return 30, true
	case "t", "tb", "tib":
		return 40, true
	}
	return 0, false
}

// Size is a byte count that decodes from configuration text with ParseSize,
// so a config struct can declare `Limits shm.Size` and accept "10MiB".
// The zero Size is 0 bytes.
type Size int64

// UnmarshalText parses text with ParseSize (encoding.TextUnmarshaler, used by
// YAML and JSON decoders for scalar strings).
func (s *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// MarshalText formats s with the largest binary unit that divides it
// exactly, so it parses back to the same value.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String formats s like "10MiB", "512KiB" or "1000B".
func (s Size) String() string {
	n := int64(s)
	units := [...]string{"B", "KiB", "MiB", "GiB", "TiB"}
	u := 0
	for u < len(units)-1 && n != 0 && n%1024 == 0 {
		n /= 1024
		u++
	}
	return strconv.FormatInt(n, 10) + units[u]
}
