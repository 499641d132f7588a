package policies

import (
	"encoding/binary"
	"errors"
)

// The stored form of a cached response, the same bytes in the shared dict
// (L1) and in Redis (L2). Versioned binary, big-endian:
//
//	off  size  field
//	  0     2  magic "SC"
//	  2     1  format version (cacheFormatVersion = 1)
//	  3     1  flags (0; reserved)
//	  4     2  status
//	  6     8  age origin, unix nanoseconds: when it was stored less the
//	           upstream's Age (a hit's Age is now less this)
//	 14     8  fresh until, unix nanoseconds (a hit before it; EXPIRED after)
//	 22     8  kept until, unix nanoseconds (the end of the stale windows)
//	 30     4  length of the fields
//	 34     n  the response's fields, "Name: value\r\n" lines as the upstream
//	           sent them, without framing, hop-by-hop, Set-Cookie and Age
//	 34+n   …  the body (the rest)
//
// A reader refuses another magic or version (an entry written by a newer
// gateway during a rolling upgrade is a miss, never a garbled answer).

const (
	cacheFormatVersion = 1
	cacheEntryHead     = 34
)

var errCacheEntry = errors.New("cache: not a cache entry of a known version")

// cacheEntry is a decoded entry: views into the stored bytes.
type cacheEntry struct {
	status     int
	ageOrigin  int64
	freshUntil int64
	staleUntil int64
	fields     []byte
	body       []byte
}

// appendCacheHead starts an entry in dst; the fields are appended next and
// their length patched by finishCacheFields.
func appendCacheHead(dst []byte, status int, ageOrigin, freshUntil, staleUntil int64) []byte {
	dst = append(dst, 'S', 'C', cacheFormatVersion, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(status))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ageOrigin))
	dst = binary.BigEndian.AppendUint64(dst, uint64(freshUntil))
	dst = binary.BigEndian.AppendUint64(dst, uint64(staleUntil))
	return binary.BigEndian.AppendUint32(dst, 0)
}

// finishCacheFields records the length of the fields appended after the
// head at start.
func finishCacheFields(b []byte, start int) {
	binary.BigEndian.PutUint32(b[start+30:], uint32(len(b)-start-cacheEntryHead))
}

// decodeCacheEntry reads an entry; the views live as long as b.
func decodeCacheEntry(b []byte) (cacheEntry, error) {
	if len(b) < cacheEntryHead || b[0] != 'S' || b[1] != 'C' || b[2] != cacheFormatVersion {
		return cacheEntry{}, errCacheEntry
	}
	n := int(binary.BigEndian.Uint32(b[30:]))
	if n > len(b)-cacheEntryHead {
		return cacheEntry{}, errCacheEntry
	}
	return cacheEntry{
		status:     int(binary.BigEndian.Uint16(b[4:])),
		ageOrigin:  int64(binary.BigEndian.Uint64(b[6:])),
		freshUntil: int64(binary.BigEndian.Uint64(b[14:])),
		staleUntil: int64(binary.BigEndian.Uint64(b[22:])),
		fields:     b[cacheEntryHead : cacheEntryHead+n],
		body:       b[cacheEntryHead+n:],
	}, nil
}
