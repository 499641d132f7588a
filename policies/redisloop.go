package policies

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
)

// Redis on the worker's loop (engine.Peer, redis.Loop): what the policies
// calling it share.

// scriptSHA is the SHA-1 of a Lua script in hex, the name EVALSHA takes.
func scriptSHA(script string) string {
	sum := sha1.Sum([]byte(script))
	return hex.EncodeToString(sum[:])
}

// countLoopCall records a call's outcome (err nil: success) in the Redis
// client's Stats, as the calls made through the client count there.
func (b *limitBase) countLoopCall(err error) {
	if b.loop != nil {
		b.loop.Count(loopRedisKind(err))
	}
}

// loopRedisKind is the redis package's kind of a loop call's failure.
func loopRedisKind(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrPeerTimeout):
		return redis.ErrTimeout
	case errors.Is(err, engine.ErrPeerClosed):
		return redis.ErrClosed
	case errors.Is(err, redis.ErrReply):
		return redis.ErrReply
	}
	return redis.ErrUnavailable
}
