package shm

import "errors"

// Sentinel errors returned by Dict, Registry and ParseSize. Compare with
// errors.Is; they are never wrapped by this package except by ParseSize and
// NewRegistry, which add the offending input.
var (
	// ErrNoMemory is returned by SafeSet and SafeAdd when the entry does not
	// fit in its shard without evicting entries that have not expired yet.
	// Set and Add evict entries (CLOCK order) instead.
	ErrNoMemory = errors.New("shm: no memory")

	// ErrExists is returned by Add and SafeAdd when the key is present and has
	// not expired.
	ErrExists = errors.New("shm: key exists")

	// ErrNotFound is returned by Replace, IncrExisting, Expire and TTL-style
	// operations when the key is absent or expired.
	ErrNotFound = errors.New("shm: not found")

	// ErrNotANumber is returned by Incr and IncrFloat when the stored value is
	// a byte string or a boolean.
	ErrNotANumber = errors.New("shm: not a number")

	// ErrNotAnInteger is returned by Incr and IncrExisting when the stored
	// value is a float64: the int64 counter path stays exact and never
	// converts. Use IncrFloat for float counters.
	ErrNotAnInteger = errors.New("shm: not an integer")

	// ErrOverflow is returned by Incr when the int64 result would overflow.
	// The stored value is left unchanged.
	ErrOverflow = errors.New("shm: integer overflow")

	// ErrEmptyKey is returned for a zero-length key.
	ErrEmptyKey = errors.New("shm: empty key")

	// ErrKeyTooLarge is returned when a key is longer than MaxKeyLen bytes.
	ErrKeyTooLarge = errors.New("shm: key too large")

	// ErrValueTooLarge is returned when one entry (key, value and per-entry
	// overhead) is larger than its shard could ever hold, even empty.
	ErrValueTooLarge = errors.New("shm: value too large for the dict")

	// ErrBadTTL is returned for a negative TTL. A TTL of 0 means "never expires".
	ErrBadTTL = errors.New("shm: negative ttl")

	// ErrBadKind is returned by Set-style operations for a Value whose Kind is
	// not one of KindBytes, KindInt, KindFloat, KindBool.
	ErrBadKind = errors.New("shm: invalid value kind")

	// ErrBadSize is returned (wrapped, with the input) by ParseSize for a
	// malformed, negative or overflowing size, and by New and NewRegistry for
	// a capacity that is too small to hold anything.
	ErrBadSize = errors.New("shm: bad size")

	// ErrBadName is returned by NewRegistry for an empty dict name.
	ErrBadName = errors.New("shm: bad dict name")
)
