package shm

// Option configures a Dict in New. Options are applied in order.
type Option func(*dictOptions)

type dictOptions struct {
	clock  Clock
	shards int
	name   string
}

// WithClock sets the clock used for TTLs. Default: MonotonicClock. Tests pass
// a fake clock; hot paths may pass (*CoarseClock).Now.
func WithClock(c Clock) Option {
	return func(o *dictOptions) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithShards sets the number of shards, rounded up to a power of two and
// capped at 1024. Default (0): one shard per 64KiB of capacity, at least 1
// and at most 64. Each shard gets capacity/shards bytes and its own lock and
// CLOCK list, so eviction is per shard, not dict-wide.
func WithShards(n int) Option {
	return func(o *dictOptions) { o.shards = n }
}

// WithName sets the name reported by Dict.Name. Registry sets it.
func WithName(name string) Option {
	return func(o *dictOptions) { o.name = name }
}
