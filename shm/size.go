package shm

import (
	"fmt"
	"math"
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
