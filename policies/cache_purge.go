package policies

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// Purging from the control plane (the Admin API calls PurgeCache): by
// key, by key prefix, or every entry of a cache policy, in L1 and L2. The
// PURGE method (cache.go) deletes one request's entry from the data plane.

// cachePolicies maps a cache policy's identity to its latest build (a
// reload replaces it; the dict and the Redis client it names are the
// ones in force).
var cachePolicies sync.Map // identity → *cachePolicy

// ErrNoSuchCache is returned by PurgeCache for an identity that no cache
// policy has.
var ErrNoSuchCache = errors.New("policies: no cache policy with that identity")

// PurgeCache deletes entries of the cache policy with that identity
// (Env.Identity: "route:NAME/ID"): every one when key is "", else those
// whose key text (the key template's text, or for the default key
// "HOST/PATH?PARAMS") is key — or starts with it, when prefix is set —
// for every method class, consumer and vary value. It returns how many entries it
// deleted from L1 and from L2. It walks the whole dict (O(entries)) and
// SCANs Redis: call it off the event loops (the Admin API's goroutine).
func PurgeCache(ctx context.Context, identity, key string, prefix bool) (l1, l2 int, err error) {
	v, ok := cachePolicies.Load(identity)
	if !ok {
		return 0, 0, ErrNoSuchCache
	}
	p := v.(*cachePolicy)
	base := cacheKeyPrefix + p.identity + "|"
	for _, k := range p.dict.Keys(0) {
		if p.purgeMatches(k, base, key, prefix) && p.dict.Delete([]byte(k)) {
			l1++
		}
	}
	if p.redis == nil {
		return l1, 0, nil
	}
	l2, err = p.purgeL2(ctx, base, key, prefix)
	return l1, l2, err
}

// purgeMatches says whether the L1 key k is one PurgeCache deletes: its
// text (cache_key.go), whatever its method class, consumer and vary
// values, is key, or starts with it.
func (p *cachePolicy) purgeMatches(k, base, key string, prefix bool) bool {
	if key == "" {
		return strings.HasPrefix(k, base) // also an entry of the policy's config before a reload
	}
	text, ok := p.keyText(k, base)
	switch {
	case !ok:
		return false
	case prefix:
		return strings.HasPrefix(text, key)
	}
	return text == key
}

// purgeL2 deletes the matching entries from Redis (SCAN, then DEL).
func (p *cachePolicy) purgeL2(ctx context.Context, base, key string, prefix bool) (int, error) {
	pattern := cacheRedisPrefix + globEscape(base) + "*"
	deleted := 0
	var cursor uint64
	for {
		b, err := p.redis.B()
		if err != nil {
			return deleted, err
		}
		msg, err := p.redis.Do(ctx, b.Scan().Cursor(cursor).Match(pattern).Count(1000).Build())
		if err != nil {
			return deleted, err
		}
		entry, err := msg.AsScanEntry()
		if err != nil {
			return deleted, err
		}
		for _, k := range entry.Elements {
			if !p.purgeMatches(strings.TrimPrefix(k, cacheRedisPrefix), base, key, prefix) {
				continue
			}
			n, err := redisDel(ctx, p.redis, k)
			if err != nil {
				return deleted, err
			}
			deleted += int(n)
		}
		if cursor = entry.Cursor; cursor == 0 {
			return deleted, nil
		}
	}
}

// globEscape escapes the glob characters of Redis's MATCH.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
