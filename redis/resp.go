package redis

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// RESP2, written and framed by hand for the calls made on the gateway's
// event loops (loop.go): a command is appended to a buffer the caller owns
// and a reply is read where it lies in the connection's input, so that a
// call allocates nothing. rueidis serves everything else.

// MaxLoopReply bounds one reply read on an event loop, 1 MiB: the loop's
// calls (rate-limit scripts) answer a few numbers, and a connection must
// not buffer without bound for a reply that never ends.
const MaxLoopReply = 1 << 20

// maxReplyDepth bounds the nesting of arrays in a reply.
const maxReplyDepth = 8

// ErrBadReply: the bytes read are not a RESP2 reply (or one over
// MaxLoopReply, or nested deeper than 8 arrays): the connection is out of
// step and must be closed.
var ErrBadReply = errors.New("redis: malformed reply")

// AppendArray appends the header of a command (or array) of n elements.
func AppendArray(dst []byte, n int) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// AppendBulk appends b as a bulk string.
func AppendBulk(dst, b []byte) []byte {
	return append(append(appendBulkHead(dst, len(b)), b...), '\r', '\n')
}

// AppendBulkString appends s as a bulk string.
func AppendBulkString(dst []byte, s string) []byte {
	return append(append(appendBulkHead(dst, len(s)), s...), '\r', '\n')
}

// appendBulkHead appends the head of a bulk string of n bytes. (Not one
// generic function for both: its argument escaped to the heap, so a
// caller's stack buffer passed in cost an allocation.)
func appendBulkHead(dst []byte, n int) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// AppendBulkInt appends v in decimal as a bulk string.
func AppendBulkInt(dst []byte, v int64) []byte {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], v, 10)
	return AppendBulk(dst, d)
}

// ReplyLen returns the length of the complete reply at the start of buf,
// 0 when more bytes must come first, or ErrBadReply. It reads RESP2:
// simple strings, errors, integers, bulk strings (nil included) and arrays
// of them, nested up to 8 deep.
func ReplyLen(buf []byte) (int, error) {
	// left[d] counts the elements still due at depth d (the top is one
	// reply).
	var left [maxReplyDepth + 1]int64
	depth := 0
	left[0] = 1
	off := 0
	for {
		if off >= MaxLoopReply {
			return 0, fmt.Errorf("%w: over %d bytes", ErrBadReply, MaxLoopReply)
		}
		if off >= len(buf) {
			return 0, nil
		}
		nl := bytes.IndexByte(buf[off:], '\n')
		if nl < 0 {
			if len(buf)-off >= MaxLoopReply {
				return 0, fmt.Errorf("%w: a line over %d bytes", ErrBadReply, MaxLoopReply)
			}
			return 0, nil
		}
		if nl < 2 || buf[off+nl-1] != '\r' {
			return 0, fmt.Errorf("%w: a line without CRLF", ErrBadReply)
		}
		line := buf[off+1 : off+nl-1] // after the type byte, before CRLF
		kind := buf[off]
		off += nl + 1
		left[depth]--
		switch kind {
		case '+', '-':
		case ':':
			if _, ok := parseInt(line); !ok {
				return 0, fmt.Errorf("%w: integer %q", ErrBadReply, clip(line))
			}
		case '$':
			n, ok := parseInt(line)
			switch {
			case !ok || n < -1:
				return 0, fmt.Errorf("%w: bulk length %q", ErrBadReply, clip(line))
			case n > MaxLoopReply:
				return 0, fmt.Errorf("%w: a bulk string of %d bytes, over %d", ErrBadReply, n, MaxLoopReply)
			case n >= 0:
				end := off + int(n) + 2
				if end > len(buf) {
					if end > MaxLoopReply {
						return 0, fmt.Errorf("%w: over %d bytes", ErrBadReply, MaxLoopReply)
					}
					return 0, nil
				}
				if buf[end-2] != '\r' || buf[end-1] != '\n' {
					return 0, fmt.Errorf("%w: a bulk string without CRLF", ErrBadReply)
				}
				off = end
			}
		case '*':
			n, ok := parseInt(line)
			switch {
			case !ok || n < -1:
				return 0, fmt.Errorf("%w: array length %q", ErrBadReply, clip(line))
			case n > MaxLoopReply/3: // each element takes 3 bytes at least
				return 0, fmt.Errorf("%w: an array of %d elements", ErrBadReply, n)
			case n > 0:
				if depth == maxReplyDepth {
					return 0, fmt.Errorf("%w: arrays nested over %d deep", ErrBadReply, maxReplyDepth)
				}
				depth++
				left[depth] = n
				continue
			}
		default:
			return 0, fmt.Errorf("%w: type byte %q", ErrBadReply, kind)
		}
		for left[depth] == 0 {
			if depth == 0 {
				return off, nil
			}
			depth--
		}
	}
}

// parseInt reads a decimal integer of at most 18 digits and an optional
// minus sign.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// clip shortens a quoted piece of a bad reply for an error message.
func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// ErrorReply returns the message of an error reply (without the '-' and
// the CRLF), and false when reply is no error.
func ErrorReply(reply []byte) ([]byte, bool) {
	if len(reply) < 3 || reply[0] != '-' {
		return nil, false
	}
	return reply[1 : len(reply)-2], true
}

// AppendInts appends the integers of reply, an array of integers (one
// complete reply, as ReplyLen framed it), to dst. An element of another
// type, or a reply that is no array, is an error; an error reply's error
// quotes it.
func AppendInts(dst []int64, reply []byte) ([]int64, error) {
	if msg, ok := ErrorReply(reply); ok {
		return dst, fmt.Errorf("%w: %s", ErrReply, msg)
	}
	if len(reply) == 0 || reply[0] != '*' {
		return dst, fmt.Errorf("%w: not an array of integers: %q", ErrReply, clip(reply))
	}
	nl := bytes.IndexByte(reply, '\n')
	if nl < 2 {
		return dst, fmt.Errorf("%w: not an array of integers: %q", ErrReply, clip(reply))
	}
	n, ok := parseInt(reply[1 : nl-1])
	if !ok {
		return dst, fmt.Errorf("%w: not an array of integers: %q", ErrReply, clip(reply))
	}
	rest := reply[nl+1:]
	for ; n > 0; n-- {
		nl = bytes.IndexByte(rest, '\n')
		if nl < 2 || rest[0] != ':' {
			return dst, fmt.Errorf("%w: not an array of integers: %q", ErrReply, clip(reply))
		}
		v, ok := parseInt(rest[1 : nl-1])
		if !ok {
			return dst, fmt.Errorf("%w: not an array of integers: %q", ErrReply, clip(reply))
		}
		dst = append(dst, v)
		rest = rest[nl+1:]
	}
	return dst, nil
}

// AppendElements appends to dst the payloads of reply's elements, a flat
// array (one complete reply, as ReplyLen framed it): an integer's digits,
// a bulk or simple string's bytes (a nil bulk string is nil). They alias
// reply. A nested array or an error element is an error, and so is a reply
// that is no array; an error reply's error quotes it.
func AppendElements(dst [][]byte, reply []byte) ([][]byte, error) {
	if msg, ok := ErrorReply(reply); ok {
		return dst, fmt.Errorf("%w: %s", ErrReply, msg)
	}
	bad := func() ([][]byte, error) {
		return dst, fmt.Errorf("%w: not a flat array: %q", ErrReply, clip(reply))
	}
	nl := bytes.IndexByte(reply, '\n')
	if len(reply) == 0 || reply[0] != '*' || nl < 2 {
		return bad()
	}
	n, ok := parseInt(reply[1 : nl-1])
	if !ok {
		return bad()
	}
	rest := reply[nl+1:]
	for ; n > 0; n-- {
		nl = bytes.IndexByte(rest, '\n')
		if nl < 2 {
			return bad()
		}
		line := rest[1 : nl-1]
		switch rest[0] {
		case ':', '+':
			dst = append(dst, line)
			rest = rest[nl+1:]
		case '$':
			size, ok := parseInt(line)
			switch {
			case !ok || size < -1 || int64(len(rest)-nl-1) < size+2:
				return bad()
			case size == -1:
				dst = append(dst, nil)
				rest = rest[nl+1:]
			default:
				dst = append(dst, rest[nl+1:nl+1+int(size)])
				rest = rest[nl+1+int(size)+2:]
			}
		default:
			return bad()
		}
	}
	return dst, nil
}

// ParseInt reads an integer element of AppendElements.
func ParseInt(b []byte) (int64, bool) { return parseInt(b) }
