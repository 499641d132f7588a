package policies

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/redis"
)

// Redis on the worker's loop (engine.Peer, redis.Loop): what the policies
// calling it share.

// loopScript is a Lua script a limit runs on the loop: its text, for
// EVAL, and its SHA-1, for EVALSHA.
type loopScript struct{ lua, sha string }

func newLoopScript(lua string) *loopScript {
	sum := sha1.Sum([]byte(lua))
	return &loopScript{lua: lua, sha: hex.EncodeToString(sum[:])}
}

// appendHead appends the start of a call of s with nkeys keys and nargs
// arguments after them: EVALSHA (EVAL with eval), the script, nkeys.
func (s *loopScript) appendHead(dst []byte, eval bool, nkeys, nargs int) []byte {
	dst = redis.AppendArray(dst, 3+nkeys+nargs)
	if eval {
		dst = redis.AppendBulkString(redis.AppendBulkString(dst, "EVAL"), s.lua)
	} else {
		dst = redis.AppendBulkString(redis.AppendBulkString(dst, "EVALSHA"), s.sha)
	}
	return redis.AppendBulkInt(dst, int64(nkeys))
}

// appendRedisKey appends, as a bulk string, the Redis key of the request
// key (a local counter key without its prefix) and suffix: redisKeyPf,
// key, "}", suffix, as redisKey names it.
func (b *limitBase) appendRedisKey(dst, key, suffix []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(b.redisKeyPf)+len(key)+1+len(suffix)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b.redisKeyPf...)
	dst = append(dst, key...)
	dst = append(dst, '}')
	dst = append(dst, suffix...)
	return append(dst, '\r', '\n')
}

// sendLoop sends req[from:], a call built in the scratch buffer after the
// request's key, and suspends until done.
func (b *limitBase) sendLoop(x *engine.Ctx, req []byte, from int, done engine.PeerReply) engine.Status {
	// CallPeer copies the call before anything may use the scratch again.
	x.ScratchDone(req)
	return x.CallPeer(b.peer, req[from:], done)
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

// loopDecider is a limit that asks Redis on the loop.
type loopDecider interface {
	callRedis(x *engine.Ctx, buf []byte, now int64, eval bool) engine.Status
}

// resendScript asks d again for the request decided at now, with the
// script itself (EVAL): Redis answered NOSCRIPT to its SHA.
func (b *limitBase) resendScript(x *engine.Ctx, d loopDecider, now int64) engine.Status {
	buf, st, ok := b.counterKey(x)
	if !ok {
		return st
	}
	return d.callRedis(x, buf, now, true)
}
