package http1

import "math"

// Chunked transfer coding, RFC 9112 §7.1.

// Default ChunkedDecoder bounds.
const (
	DefaultMaxExtension = 1024
	DefaultMaxTrailers  = 8192
	// maxSizeDigits bounds a chunk-size's hex digits, leading zeros included,
	// so a line of zeros cannot keep the decoder busy forever.
	maxSizeDigits = 32
)

// Decoder states.
const (
	csSize         uint8 = iota // expecting the first hex digit of a chunk-size
	csSizeMore                  // inside the chunk-size
	csSizeBWS                   // after SP/HTAB following the size: only more BWS or ';'
	csExt                       // inside chunk extensions, up to CR (sub-state in ext)
	csSizeLF                    // after the chunk line's CR
	csData                      // inside chunk data
	csDataCR                    // after chunk data, expecting CR
	csDataLF                    // expecting LF after chunk data
	csTrailerStart              // at the start of a trailer line (or the final CRLF)
	csTrailerName               // inside a trailer field name
	csTrailerValue              // inside a trailer field value, up to CR
	csTrailerLF                 // after a trailer line's CR
	csFinalLF                   // after the final CR
	csDone
	csFailed
)

// ChunkedDecoder streams a chunked body: it validates framing and hands out
// payload without buffering, so memory stays constant whatever the peer sends.
// Trailer fields are validated like header fields (token name, colon without
// whitespace before it, field-value bytes, CRLF) and then dropped: the
// decoder does not record them.
//
// The zero value is ready to use. A ChunkedDecoder is not safe for
// concurrent use; Reset it between bodies.
type ChunkedDecoder struct {
	MaxExtension int // bytes of chunk extensions per chunk line [1024]
	MaxTrailers  int // bytes of the trailer section, final CRLF included [8192]

	state     uint8
	ext       uint8 // extension grammar sub-state (chunked_ext.go)
	digits    uint8
	remaining uint64 // chunk-size while reading it, then data bytes left
	extLen    int
	trailers  int
	err       error
}

// Reset prepares d for a new body, keeping MaxExtension and MaxTrailers.
func (d *ChunkedDecoder) Reset() {
	*d = ChunkedDecoder{MaxExtension: d.MaxExtension, MaxTrailers: d.MaxTrailers}
}

// Done reports whether the last chunk and the trailer section have been consumed.
func (d *ChunkedDecoder) Done() bool { return d.state == csDone }

// Decode consumes bytes from src. n is how many bytes of src it consumed
// (framing and payload); data is a sub-slice of src[:n] holding chunk
// payload (at most one contiguous run per call; it may be empty when only
// framing was consumed). Call again with the rest (src[n:] plus whatever
// arrives). It never needs bytes it has already consumed. After the last
// chunk and trailers, Done() is true and Decode consumes nothing more, so
// bytes after the body (a pipelined message) are left in src[n:].
// A proxy may forward src[:n] verbatim to relay the chunked body as is.
//
// data aliases src: it is valid as long as src is. An error is sticky until
// Reset; n then counts the bytes consumed before the error.
func (d *ChunkedDecoder) Decode(src []byte) (n int, data []byte, err error) {
	if d.state == csFailed {
		return 0, nil, d.err
	}
	i := 0
	for i < len(src) && d.state != csDone {
		c := src[i]
		switch d.state {
		case csData:
			if data != nil {
				return i, data, nil
			}
			take := len(src) - i
			if uint64(take) > d.remaining {
				take = int(d.remaining)
			}
			data = src[i : i+take : i+take]
			i += take
			d.remaining -= uint64(take)
			if d.remaining == 0 {
				d.state = csDataCR
			}
			continue
		case csSize, csSizeMore:
			if v := hexValue[c]; v != 0xff {
				if d.remaining > math.MaxInt64>>4 || d.digits >= maxSizeDigits {
					return d.fail(i, data, ErrChunkSize)
				}
				d.remaining = d.remaining<<4 | uint64(v)
				d.digits++
				d.state = csSizeMore
				break
			}
			if d.state == csSize {
				return d.fail(i, data, ErrChunkSize)
			}
			switch c {
			case cr:
				d.state = csSizeLF
			case ';':
				d.state, d.ext, d.extLen = csExt, exNameStart, 1
			case sp, ht:
				d.state, d.extLen = csSizeBWS, 1
			case lf:
				return d.fail(i, data, ErrChunkFraming)
			default:
				return d.fail(i, data, ErrChunkSize)
			}
		case csSizeBWS:
			switch c {
			case sp, ht:
			case ';':
				d.state, d.ext = csExt, exNameStart
			default:
				return d.fail(i, data, ErrChunkSize)
			}
			if d.extLen++; d.extLen > d.maxExtension() {
				return d.fail(i, data, ErrChunkExtension)
			}
		case csExt:
			end, err := d.extByte(c)
			if err != nil {
				return d.fail(i, data, err)
			}
			if end {
				d.state = csSizeLF
			}
		case csSizeLF:
			if c != lf {
				return d.fail(i, data, ErrChunkFraming)
			}
			d.digits, d.extLen = 0, 0
			if d.remaining == 0 {
				d.state = csTrailerStart
			} else {
				d.state = csData
			}
		case csDataCR:
			if c != cr {
				return d.fail(i, data, ErrChunkFraming)
			}
			d.state = csDataLF
		case csDataLF:
			if c != lf {
				return d.fail(i, data, ErrChunkFraming)
			}
			d.state = csSize
		default:
			if err := d.trailerByte(c); err != nil {
				return d.fail(i, data, err)
			}
		}
		i++
	}
	return i, data, nil
}

// trailerByte advances the trailer section (RFC 9112 §7.1.2) by one byte.
func (d *ChunkedDecoder) trailerByte(c byte) error {
	if d.trailers++; d.trailers > d.maxTrailers() {
		return ErrTrailersTooLarge
	}
	switch d.state {
	case csTrailerStart:
		switch {
		case c == cr:
			d.state = csFinalLF
		case c == sp || c == ht:
			return ErrObsFold
		case c == lf:
			return ErrBareLF
		case charClass[c]&classToken != 0:
			d.state = csTrailerName
		default:
			return ErrFieldName
		}
	case csTrailerName:
		switch {
		case c == ':':
			d.state = csTrailerValue
		case c == sp || c == ht:
			return ErrSpaceBeforeColon
		case charClass[c]&classToken == 0:
			return ErrFieldName
		}
	case csTrailerValue:
		switch {
		case c == cr:
			d.state = csTrailerLF
		case c == lf:
			return ErrBareLF
		case charClass[c]&classValue == 0:
			return ErrFieldValue
		}
	case csTrailerLF:
		if c != lf {
			return ErrBareCR
		}
		d.state = csTrailerStart
	case csFinalLF:
		if c != lf {
			return ErrBareCR
		}
		d.state = csDone
	}
	return nil
}

func (d *ChunkedDecoder) fail(n int, data []byte, err error) (int, []byte, error) {
	d.state, d.err = csFailed, err
	return n, data, err
}

func (d *ChunkedDecoder) maxExtension() int {
	if d.MaxExtension > 0 {
		return d.MaxExtension
	}
	return DefaultMaxExtension
}

func (d *ChunkedDecoder) maxTrailers() int {
	if d.MaxTrailers > 0 {
		return d.MaxTrailers
	}
	return DefaultMaxTrailers
}

// AppendChunk appends p as one chunk, "<hex size>\r\n" p "\r\n", to dst and
// returns the extended slice. An empty p appends nothing (an empty chunk
// would end the body; use AppendLastChunk for that).
func AppendChunk(dst, p []byte) []byte {
	if len(p) == 0 {
		return dst
	}
	dst = AppendChunkHeader(dst, len(p))
	dst = append(dst, p...)
	return append(dst, cr, lf)
}

// AppendChunkHeader appends "<hex size>\r\n" for a chunk of size bytes (size
// > 0), for callers that write the payload separately (e.g. with writev);
// the payload must then be followed by "\r\n".
func AppendChunkHeader(dst []byte, size int) []byte {
	var tmp [16]byte
	i := len(tmp)
	u := uint64(size)
	for {
		i--
		tmp[i] = hexDigits[u&0xf]
		u >>= 4
		if u == 0 {
			break
		}
	}
	dst = append(dst, tmp[i:]...)
	return append(dst, cr, lf)
}

// AppendLastChunk appends the last chunk with an empty trailer section, "0\r\n\r\n".
func AppendLastChunk(dst []byte) []byte { return append(dst, "0\r\n\r\n"...) }
