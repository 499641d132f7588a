package shm

import (
	"math"
	"strconv"
	"unsafe"
)

// Kind is the type of a stored value.
type Kind uint8

// Value kinds. KindNone is the zero Kind; it is never stored.
const (
	KindNone Kind = iota
	KindBytes
	KindInt
	KindFloat
	KindBool
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindBytes:
		return "bytes"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindBool:
		return "bool"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one typed value with its user flags. It is a plain struct passed
// by value, so reading a number or a boolean allocates nothing.
//
// Only the field matching Kind is meaningful. For KindBytes, Bytes is:
//   - on input (Set, Add, ...): read during the call and copied into the dict;
//     the dict never keeps it, so callers may reuse the buffer right away;
//   - on output (Get, GetStale): the dst buffer passed to Get with the value
//     appended, owned by the caller. It stays valid until the caller reuses
//     dst; the dict never writes to it after Get returns.
//
// A Value is not safe for concurrent mutation, like any struct.
type Value struct {
	Kind  Kind
	Flags uint32 // user flags, stored and returned as is (ngx's "flags")
	Int   int64
	Float float64
	Bool  bool
	Bytes []byte
}

// BytesValue returns a KindBytes value that refers to b. See Value for how
// long b is read.
func BytesValue(b []byte) Value { return Value{Kind: KindBytes, Bytes: b} }

// StringValue returns a KindBytes value that views s without copying it. The
// dict only reads the bytes during Set, so s is never modified.
func StringValue(s string) Value { return Value{Kind: KindBytes, Bytes: stringBytes(s)} }

// IntValue returns a KindInt value.
func IntValue(n int64) Value { return Value{Kind: KindInt, Int: n} }

// FloatValue returns a KindFloat value.
func FloatValue(f float64) Value { return Value{Kind: KindFloat, Float: f} }

// BoolValue returns a KindBool value.
func BoolValue(b bool) Value { return Value{Kind: KindBool, Bool: b} }

// WithFlags returns v with its user flags set to flags.
func (v Value) WithFlags(flags uint32) Value {
	v.Flags = flags
	return v
}

// Equal reports whether v and w have the same kind, flags and value. Floats
// compare by bits, so NaN equals the same NaN.
func (v Value) Equal(w Value) bool {
	if v.Kind != w.Kind || v.Flags != w.Flags {
		return false
	}
	switch v.Kind {
	case KindBytes:
		return string(v.Bytes) == string(w.Bytes)
	case KindInt:
		return v.Int == w.Int
	case KindFloat:
		return math.Float64bits(v.Float) == math.Float64bits(w.Float)
	case KindBool:
		return v.Bool == w.Bool
	}
	return true
}

// String formats v for logs and test failures.
func (v Value) String() string {
	var s string
	switch v.Kind {
	case KindBytes:
		s = strconv.Quote(string(v.Bytes))
	case KindInt:
		s = strconv.FormatInt(v.Int, 10)
	case KindFloat:
		s = strconv.FormatFloat(v.Float, 'g', -1, 64)
	case KindBool:
		s = strconv.FormatBool(v.Bool)
	}
	return v.Kind.String() + "(" + s + ")/" + strconv.FormatUint(uint64(v.Flags), 10)
}

// numBits packs a number or boolean value into the entry's 8-byte slot.
func (v Value) numBits() uint64 {
	switch v.Kind {
	case KindInt:
		return uint64(v.Int)
	case KindFloat:
		return math.Float64bits(v.Float)
	case KindBool:
		if v.Bool {
			return 1
		}
	}
	return 0
}

// payload is the number of value bytes stored in the arena for v: only byte
// strings live there, numbers and booleans live in the entry itself.
func (v Value) payload() int {
	if v.Kind == KindBytes {
		return len(v.Bytes)
	}
	return 0
}

// stringBytes views s as a byte slice without copying. The result must only be
// read: the dict hashes, compares and copies keys and values, never writes them.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
