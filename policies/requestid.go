package policies

import (
	"math/rand/v2"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// requestIDConfig is the `request-id` policy's config: every request gets
// an id — a new UUID, or the client's own when it is trusted and well
// formed — which is sent upstream, echoed to the client, written in the
// gateway's error bodies and in the request log.
type requestIDConfig struct {
	// Header carries the id upstream and back. Default X-Request-Id.
	Header string `yaml:"header" desc:"field that carries the id upstream and back to the client; default X-Request-Id"`
	// Format of generated ids: uuid4 (random, default) or uuid7 (time
	// ordered to the millisecond, then random).
	Format string `yaml:"format" enum:"uuid4|uuid7" desc:"format of generated ids: uuid4 (default) or uuid7"`
	// TrustIncoming keeps an id the client sent in Header when it is 1..40
	// bytes of [A-Za-z0-9._:-]; any other is replaced. Default false: a new
	// id for every request, whatever the client sent.
	TrustIncoming bool `yaml:"trust_incoming" desc:"keep a well-formed id the client sent (1..40 bytes of A-Za-z0-9._:-); default false"`
	// Echo sends the id back to the client in Header. Default true.
	Echo *bool `yaml:"echo" desc:"send the id back to the client in the response; default true"`
}

// requestID sets the request's id in the rewrite phase and echoes it in
// header_filter, which also runs on the gateway's own answers.
type requestID struct {
	name   string // the header, for Ctx.Header
	header []byte
	v7     bool
	trust  bool
	echo   bool
}

// requestIDPriority runs request-id before every other rewrite handler, so
// that what they log or answer carries the id.
const requestIDPriority = 3000

// maxIncomingID is the longest client id kept: the engine's limit
// (Ctx.SetRequestID), which a UUID (36) fits.
const maxIncomingID = 40

func init() { RegisterConfig("request-id", requestIDConfig{}, newRequestID) }

func newRequestID(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg requestIDConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.Header == "" {
		cfg.Header = "X-Request-Id"
	}
	if !http1.ValidFieldName(cfg.Header) {
		return nil, config.FieldError(spec, "header", "not a valid field name: "+quote(cfg.Header))
	}
	if why := gatewayOwned(cfg.Header, true); why != "" {
		return nil, config.FieldError(spec, "header", cfg.Header+" "+why)
	}
	p := &requestID{name: cfg.Header, header: []byte(cfg.Header), trust: cfg.TrustIncoming, echo: cfg.Echo == nil || *cfg.Echo}
	switch cfg.Format {
	case "", "uuid4":
	case "uuid7":
		p.v7 = true
	default:
		return nil, config.FieldError(spec, "format", `must be "uuid4" or "uuid7", got `+quote(cfg.Format))
	}
	return p, nil
}

func (p *requestID) Priority() int { return requestIDPriority }

func (p *requestID) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseRewrite, p.assign)
	if p.echo {
		c.Add(engine.PhaseHeaderFilter, p.echoID)
	}
	return nil
}

// assign gives the request its id and sends it upstream, replacing any
// field of that name the client sent.
func (p *requestID) assign(x *engine.Ctx) engine.Status {
	if !p.trust || !p.keepIncoming(x) {
		b := x.Scratch()
		if p.v7 {
			b = appendUUID7(b, x.Now()/1e6)
		} else {
			b = appendUUID4(b)
		}
		x.SetRequestID(b) // a UUID always passes
		x.ScratchDone(b)
	}
	x.SetRequestHeader(p.header, x.RequestID())
	return engine.Continue
}

// keepIncoming makes the client's id the request's when it is well formed.
func (p *requestID) keepIncoming(x *engine.Ctx) bool {
	// Header gives the first field of the name; the Set upstream replaces
	// every one, so a second field cannot smuggle another id past us.
	id, ok := x.Header(p.name)
	return ok && validIncomingID(id) && x.SetRequestID(id)
}

// validIncomingID accepts 1..40 bytes of letters, digits and ._:- — a
// UUID, a ULID, a trace id; nothing that could break a log line, a JSON
// error body or a field it is copied into.
func validIncomingID(id []byte) bool {
	if len(id) == 0 || len(id) > maxIncomingID {
		return false
	}
	for _, c := range id {
		if !idByte[c] {
			return false
		}
	}
	return true
}

var idByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "._:-" {
		t[c] = true
	}
	return t
}()

func (p *requestID) echoID(x *engine.Ctx) engine.Status {
	x.SetResponseHeader(p.header, x.RequestID())
	return engine.Continue
}

// UUIDs, RFC 9562. The random bits come from math/rand/v2's top-level
// functions: the runtime's ChaCha8 generator, one state per thread (M),
// seeded from the kernel's entropy — no lock, no allocation, a few
// nanoseconds. crypto/rand per request would cost a getrandom(2) call
// (hundreds of ns, or a vDSO call on recent kernels) and its []byte
// argument escapes; a request id is an identifier echoed to the client, not
// a secret, and ChaCha8's output is unpredictable all the same.

// appendUUID4 appends a random (version 4) UUID in its 36-byte text form.
func appendUUID4(dst []byte) []byte {
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 4<<12 // version 4 in bits 48..51
	lo = lo&^(3<<62) | 2<<62   // variant 10
	return appendUUID(dst, hi, lo)
}

// appendUUID7 appends a version 7 UUID: unixMillis in the first 48 bits,
// then 74 random bits. Ids of one millisecond are not ordered among
// themselves (RFC 9562 §6.2 allows that; a counter would need state shared
// by the workers).
func appendUUID7(dst []byte, unixMillis int64) []byte {
	r1, r2 := rand.Uint64(), rand.Uint64()
	hi := uint64(unixMillis)<<16 | 7<<12 | r1&0xfff
	lo := r2&^(3<<62) | 2<<62
	return appendUUID(dst, hi, lo)
}

// appendUUID writes hi and lo as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	var b [36]byte
	putHex(b[0:8], hi>>32)
	b[8] = '-'
	putHex(b[9:13], hi>>16)
	b[13] = '-'
	putHex(b[14:18], hi)
	b[18] = '-'
	putHex(b[19:23], lo>>48)
	b[23] = '-'
	putHex(b[24:36], lo)
	return append(dst, b[:]...)
}

// putHex writes the low 4*len(dst) bits of v as lower-case hex.
func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

const hexDigits = "0123456789abcdef"
