package http1

// Chunk extensions, RFC 9112 §7.1.1:
//
//	chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-name = token
//	chunk-ext-val  = token / quoted-string
//
// The decoder checks this grammar byte by byte (extensions are dropped, not
// recorded): parsers that disagree on where a chunk line ends are a
// smuggling vector, so anything outside the grammar is ErrChunkExtension.

// Extension sub-states (ChunkedDecoder.ext), entered after a ';'.
const (
	exNameStart  uint8 = iota // BWS, then the first byte of a name
	exName                    // inside a name
	exAfterName               // BWS after a name: '=' or ';' must follow
	exValueStart              // BWS, then a token or a quoted-string
	exToken                   // inside a token value
	exQuoted                  // inside a quoted-string
	exQuotedPair              // after a backslash inside a quoted-string
	exAfterValue              // BWS after a value: ';' must follow
)

// extByte advances the extension grammar by one byte. end reports the CR
// that ends the chunk line.
func (d *ChunkedDecoder) extByte(c byte) (end bool, err error) {
	if c != cr {
		if d.extLen++; d.extLen > d.maxExtension() {
			return false, ErrChunkExtension
		}
	}
	ws := c == sp || c == ht
	token := charClass[c]&classToken != 0
	switch d.ext {
	case exNameStart:
		switch {
		case token:
			d.ext = exName
		case !ws:
			return false, ErrChunkExtension
		}
	case exName, exToken:
		switch {
		case token:
		case c == cr:
			return true, nil
		case c == ';':
			d.ext = exNameStart
		case c == '=' && d.ext == exName:
			d.ext = exValueStart
		case ws && d.ext == exName:
			d.ext = exAfterName
		case ws:
			d.ext = exAfterValue
		default:
			return false, ErrChunkExtension
		}
	case exAfterName:
		switch {
		case c == '=':
			d.ext = exValueStart
		case c == ';':
			d.ext = exNameStart
		case !ws:
			return false, ErrChunkExtension
		}
	case exValueStart:
		switch {
		case c == '"':
			d.ext = exQuoted
		case token:
			d.ext = exToken
		case !ws:
			return false, ErrChunkExtension
		}
	case exQuoted:
		switch {
		case c == '"':
			d.ext = exAfterValue
		case c == '\\':
			d.ext = exQuotedPair
		case charClass[c]&classValue == 0: // qdtext: HTAB, SP, VCHAR except '"' '\', obs-text
			return false, ErrChunkExtension
		}
	case exQuotedPair:
		if charClass[c]&classValue == 0 {
			return false, ErrChunkExtension
		}
		d.ext = exQuoted
	case exAfterValue:
		switch {
		case c == cr:
			return true, nil
		case c == ';':
			d.ext = exNameStart
		case !ws:
			return false, ErrChunkExtension
		}
	}
	return false, nil
}
