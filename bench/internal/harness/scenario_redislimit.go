package harness

import (
	"context"
	"fmt"
	"strconv"
)

// runRedisLimit is issue 15's cell: limit-count counted in Redis (one Lua
// script per request), Sluice against nginx+lua sending the same script
// through a cosocket, both on one redis-server that this scenario starts.
func (r *Runner) runRedisLimit(ctx context.Context) (*Cell, error) {
	if err := r.StartRedis(ctx); err != nil {
		return nil, err
	}
	defer r.StopRedis()
	conns := r.cfg.Conns[0]
	cell := &Cell{Scenario: "redislimit", Name: fmt.Sprintf("limit-count in Redis, %s body, %d conns", bodyLabels["13"], conns),
		Conns: conns, Body: "13", Reference: "nginx+lua"}
	return r.runCheckedCell(ctx, cell, []string{kindSluiceRedis, kindNginxLuaRedis}, "/", map[string]string{"X-Api-Key": gatewayKeys[0]},
		gatewayKeys, r.checkRedisLimit)
}

// redisKeyPrefix is where each peer keeps its counters (Sluice's
// sluice:lc:{IDENTITY|KEY}:..., and the same shape under nginx:).
var redisKeyPrefix = map[string]string{"sluice": "sluice:lc:", "nginx+lua": "nginx:lc:"}

// checkRedisLimit verifies that a peer counts in Redis: a request with a
// fresh key gets X-RateLimit-* fields, and afterwards that key's counter
// exists in Redis with a TTL, and a second request counts it up.
func (r *Runner) checkRedisLimit(p *Peer) []string {
	addr := fmt.Sprintf("127.0.0.1:%d", r.redisPort)
	key := "check-" + strconv.Itoa(p.Port)
	var problems []string
	var counts []int
	for range 2 {
		_, h, err := httpGet(p.URL("/"), map[string]string{"X-Api-Key": key})
		if err != nil {
			return append(problems, fmt.Sprintf("request: %v", err))
		}
		if h.Get("X-RateLimit-Limit") == "" || h.Get("X-RateLimit-Remaining") == "" {
			problems = append(problems, "response lacks X-RateLimit-Limit/-Remaining")
		}
		keys, err := RedisCommand(addr, "KEYS", redisKeyPrefix[p.Name]+"*"+key+"*")
		if err != nil || len(keys) != 1 {
			return append(problems, fmt.Sprintf("redis KEYS %s*%s*: %v %v, want one key", redisKeyPrefix[p.Name], key, keys, err))
		}
		v, err := RedisCommand(addr, "GET", keys[0])
		if err != nil {
			return append(problems, fmt.Sprintf("redis GET %s: %v", keys[0], err))
		}
		n, _ := strconv.Atoi(v[0])
		counts = append(counts, n)
		if ttl, err := RedisCommand(addr, "PTTL", keys[0]); err != nil || ttl[0] == "-1" {
			problems = append(problems, fmt.Sprintf("redis key %s has no TTL (%v %v)", keys[0], ttl, err))
		}
	}
	if counts[0] != 1 || counts[1] != 2 {
		problems = append(problems, fmt.Sprintf("redis counter after 1 and 2 requests: %v, want [1 2]", counts))
	}
	return problems
}
