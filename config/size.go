package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Size is a byte count. In YAML it is a plain non-negative integer (bytes) or
// an integer with a unit, case-insensitive, with or without a space:
//
//	B           bytes
//	KiB, K      1024 (K, M, G, T are nginx's binary units: "1m" is 1MiB)
//	MiB, M      1024^2
//	GiB, G      1024^3
//	TiB, T      1024^4
//	KB, MB, GB, TB  decimal: 1000, 1000^2, ...
//
// The zero Size means "the field's default" or "unlimited", as each field
// documents.
type Size int64

// sizeUnits maps a lower-cased unit to its multiplier.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

var errSizeSyntax = errors.New(`must be a size like "10MiB", "512KiB", "1m" or a number of bytes`)

// ParseSize parses s as described on Size.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	if digits == 0 {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("must not be negative, got %q", s)
		}
		return 0, fmt.Errorf("%w, got %q", errSizeSyntax, s)
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("too large, got %q", s)
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[digits:]))]
	if !ok {
		return 0, fmt.Errorf("%w, got %q", errSizeSyntax, s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("too large, got %q", s)
	}
	return Size(n * mult), nil
}

// String formats s with the largest binary unit that divides it exactly,
// "10MiB", or in bytes, "1500". ParseSize(s.String()) == s.
func (s Size) String() string {
	units := [...]struct {
		name string
		mult Size
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	if s > 0 {
		for _, u := range units {
			if s%u.mult == 0 {
				return strconv.FormatInt(int64(s/u.mult), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalYAML decodes a size from a scalar, so Size also works with
// yaml.Unmarshal directly.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%w, got %s", errSizeSyntax, describeNode(n))
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes s as String does.
func (s Size) MarshalYAML() (any, error) {
	if str := s.String(); strings.HasSuffix(str, "B") {
		return str, nil
	}
	return int64(s), nil
}
