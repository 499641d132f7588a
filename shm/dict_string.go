package shm

import "time"

// String-key conveniences. They view the key without copying it (the dict
// only hashes, compares and copies keys), so they allocate no more than the
// []byte methods they call.

// GetString is Get with a string key.
func (d *Dict) GetString(key string, dst []byte) (Value, bool) {
	return d.Get(stringBytes(key), dst)
}

// SetString is Set with a string key.
func (d *Dict) SetString(key string, v Value, ttl time.Duration) error {
	return d.Set(stringBytes(key), v, ttl)
}

// IncrString is Incr with a string key.
func (d *Dict) IncrString(key string, delta, init int64, initTTL time.Duration) (int64, error) {
	return d.Incr(stringBytes(key), delta, init, initTTL)
}

// DeleteString is Delete with a string key.
func (d *Dict) DeleteString(key string) bool {
	return d.Delete(stringBytes(key))
}
