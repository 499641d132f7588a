package redis

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// incrExpireScript adds ARGV[1] to the counter KEYS[1] and gives it the TTL
// ARGV[2] (ms) when it has none: just created, or made by someone without
// one (a counter that never expires would block a limit forever). One
// script, so that no crash between INCRBY and PEXPIRE can leave that.
var incrExpireScript = rueidis.NewLuaScript(`local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n`)

// IncrExpire adds by to the integer at key and returns the new value; when
// the key has no TTL (it was just created) it gets ttl, rounded down to
// milliseconds and at least 1ms. Atomic (one Lua script, sent by EVALSHA,
// EVAL when the server does not know it yet): the fixed-window counter of
// distributed rate limits.
func (c *Client) IncrExpire(ctx context.Context, key string, by int64, ttl time.Duration) (int64, error) {
	if _, down := c.client(); down != nil {
		_, err := c.failFast(down) // before building the arguments: failing fast allocates nothing
		return 0, err
	}
	msg, err := c.Eval(ctx, incrExpireScript, []string{key},
		[]string{strconv.FormatInt(by, 10), strconv.FormatInt(max(ttl.Milliseconds(), 1), 10)})
	if err != nil {
		return 0, err
	}
	n, err := msg.AsInt64()
	if err != nil {
		return 0, c.newError("EVALSHA", err, ErrReply)
	}
	return n, nil
}

// Get returns the value at key and whether it exists. The slice is the
// caller's.
func (c *Client) Get(ctx context.Context, key string) ([]byte, bool, error) {
	rc, down := c.client()
	if down != nil {
		_, err := c.failFast(down)
		return nil, false, err
	}
	msg, err := c.do(ctx, rc, rc.B().Get().Key(key).Build())
	if err != nil || msg.IsNil() {
		return nil, false, err
	}
	val, err := msg.AsBytes()
	if err != nil {
		return nil, false, c.newError("GET", err, ErrReply)
	}
	return val, true, nil
}

// SetPX sets key to val with the TTL ttl, rounded down to milliseconds and
// at least 1ms. val is sent as is; it must not change until SetPX returns.
func (c *Client) SetPX(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	rc, down := c.client()
	if down != nil {
		_, err := c.failFast(down)
		return err
	}
	_, err := c.do(ctx, rc, rc.B().Set().Key(key).Value(rueidis.BinaryString(val)).PxMilliseconds(max(ttl.Milliseconds(), 1)).Build())
	return err
}

// SetNXPX sets key to val with the TTL ttl (as SetPX) only when key does
// not exist, and says whether it did (SET NX PX): the first of several
// gateways to record a key wins (a replay check, a lock).
func (c *Client) SetNXPX(ctx context.Context, key string, val []byte, ttl time.Duration) (bool, error) {
	rc, down := c.client()
	if down != nil {
		_, err := c.failFast(down)
		return false, err
	}
	msg, err := c.do(ctx, rc, rc.B().Set().Key(key).Value(rueidis.BinaryString(val)).Nx().PxMilliseconds(max(ttl.Milliseconds(), 1)).Build())
	if err != nil {
		return false, err
	}
	return !msg.IsNil(), nil
}

// Eval runs script (made once with rueidis.NewLuaScript, at init) with
// keys and args: EVALSHA, then EVAL if the server does not have it. In
// cluster mode every key must hash to one slot. Errors are those of Do,
// named EVALSHA (or EVAL).
func (c *Client) Eval(ctx context.Context, script *rueidis.Lua, keys, args []string) (rueidis.RedisMessage, error) {
	rc, down := c.client()
	if down != nil {
		return c.failFast(down)
	}
	callCtx, cancel := c.bound(ctx)
	res := script.Exec(callCtx, rc, keys, args)
	if cancel != nil {
		cancel()
	}
	return c.result(ctx, res, "EVALSHA")
}
