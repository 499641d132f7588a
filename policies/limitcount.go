package policies

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/shm"
)

// limitCountConfig is the `limit-count` policy's config: at most Count
// requests per Window for each key, counted in a shared dict.
type limitCountConfig struct {
	// Count of requests allowed per window, > 0. Required.
	Count int64 `yaml:"count" desc:"requests allowed per window, > 0; required"`
	// Window length, >= 1s... any positive duration. Required.
	Window config.Duration `yaml:"window" desc:"window length, a positive duration; required"`
	// Key counts by "ip" (default), "header:NAME" (client IP when the
	// header is absent) or "route" (one counter for the route).
	Key string `yaml:"key" desc:"what to count by: ip (default), header:NAME or route"`
	// Dict is the shared dict holding the counters; it must be declared in
	// shared_dicts. Default "limits".
	Dict string `yaml:"dict" desc:"shared dict holding the counters, declared in shared_dicts; default limits"`
	// Status answered when the limit is reached, 400..599. Default 429.
	Status int `yaml:"status" desc:"status answered past the limit, 400..599; default 429"`
	// Headers adds X-RateLimit-Limit/-Remaining/-Reset to proxied responses
	// and to the limit's own answer (which always has Retry-After). Answers
	// made by other policies or the gateway's errors get none. Default true.
	Headers *bool `yaml:"headers" desc:"send X-RateLimit-Limit/-Remaining/-Reset; default true"`
}

// limitCount is a fixed-window counter per key. The counter of a window is
// the key plus the window's number, so a new window starts from zero
// without resetting anything; counters expire a little after their window.
// Incr is atomic in the dict, so with N workers exactly Count requests of a
// window pass.
type limitCount struct {
	dict      *shm.Dict
	count     int64
	window    int64 // nanoseconds
	key       requestKey
	status    int
	headers   bool
	prefix    []byte // distinguishes this policy instance's counters
	limitText []byte
	remaining engine.IntKey // remaining+1 for the header filter (0: not counted)
	winNumber engine.IntKey // the request's window number
}

// limitCountPriority runs limits after authentication (which sets the
// consumer a limit may key on) and before everything that costs more.
const limitCountPriority = 900

func init() { RegisterConfig("limit-count", limitCountConfig{}, newLimitCount) }

func newLimitCount(spec config.PolicySpec, env *engine.Env) (engine.Policy, error) {
	var cfg limitCountConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.Count <= 0 {
		return nil, config.FieldError(spec, "count", fmt.Sprintf("must be > 0, got %d", cfg.Count))
	}
	if cfg.Window <= 0 {
		return nil, config.FieldError(spec, "window", "must be a positive duration such as 1s or 1m")
	}
	key, err := parseRequestKey(cfg.Key)
	if err != nil {
		return nil, config.FieldError(spec, "key", err.Error())
	}
	if cfg.Dict == "" {
		cfg.Dict = "limits"
	}
	var dict *shm.Dict
	if env != nil && env.Dicts != nil {
		dict = env.Dicts.Dict(cfg.Dict)
	}
	if dict == nil {
		return nil, config.FieldError(spec, "dict", fmt.Sprintf("shared dict %q is not declared in shared_dicts", cfg.Dict))
	}
	if cfg.Status == 0 {
		cfg.Status = 429
	}
	if cfg.Status < 400 || cfg.Status > 599 {
		return nil, config.FieldError(spec, "status", fmt.Sprintf("must be between 400 and 599, got %d", cfg.Status))
	}
	p := &limitCount{
		dict:      dict,
		count:     cfg.Count,
		window:    int64(cfg.Window),
		key:       key,
		status:    cfg.Status,
		headers:   cfg.Headers == nil || *cfg.Headers,
		prefix:    []byte("lc|" + env.Identity() + "|"),
		limitText: strconv.AppendInt(nil, cfg.Count, 10),
	}
	return p, nil
}

func (p *limitCount) Priority() int { return limitCountPriority }

func (p *limitCount) Install(c *engine.ChainBuilder) error {
	p.remaining = c.PrivateInt()
	p.winNumber = c.PrivateInt()
	c.Add(engine.PhaseAccess, p.access)
	if p.headers {
		c.Add(engine.PhaseHeaderFilter, p.addHeaders)
	}
	return nil
}

func (p *limitCount) access(x *engine.Ctx) engine.Status {
	now := x.Now()
	win := now / p.window
	k := append(x.Scratch(), p.prefix...)
	k = p.key.appendKey(k, x)
	k = append(k, '|')
	k = strconv.AppendInt(k, win, 36)
	// The counter outlives its window by a second so a late request of the
	// window still finds it.
	n, err := p.dict.Incr(k, 1, 0, time.Duration(p.window)+time.Second)
	x.ScratchDone(k)
	if err != nil {
		// The dict failed (full of unevictable entries, a key too long):
		// fail open, as Kong's fault_tolerant does; the request is not counted.
		return engine.Continue
	}
	if n > p.count {
		fields := x.Scratch()
		if p.headers {
			fields = p.appendHeaders(fields, 0, win, now)
		}
		fields = append(fields, "Retry-After: "...)
		fields = strconv.AppendInt(fields, p.resetSeconds(win, now), 10)
		fields = append(fields, "\r\n"...)
		x.RespondErrorFields(p.status, fields, "rate limit exceeded")
		x.ScratchDone(fields)
		return engine.Done
	}
	x.SetInt(p.remaining, p.count-n+1)
	x.SetInt(p.winNumber, win)
	return engine.Continue
}

func (p *limitCount) resetSeconds(win, now int64) int64 {
	left := (win+1)*p.window - now
	return (left + int64(time.Second) - 1) / int64(time.Second)
}

func (p *limitCount) appendHeaders(dst []byte, remaining, win, now int64) []byte {
	dst = append(dst, "X-RateLimit-Limit: "...)
	dst = append(dst, p.limitText...)
	dst = append(dst, "\r\nX-RateLimit-Remaining: "...)
	dst = strconv.AppendInt(dst, remaining, 10)
	dst = append(dst, "\r\nX-RateLimit-Reset: "...)
	dst = strconv.AppendInt(dst, p.resetSeconds(win, now), 10)
	return append(dst, "\r\n"...)
}

func (p *limitCount) addHeaders(x *engine.Ctx) engine.Status {
	r := x.Int(p.remaining)
	if r == 0 {
		return engine.Continue
	}
	x.SetResponseHeader(bRateLimitLimit, p.limitText)
	b := strconv.AppendInt(x.Scratch(), r-1, 10)
	x.SetResponseHeader(bRateLimitRemaining, b)
	b = strconv.AppendInt(b[:0], p.resetSeconds(x.Int(p.winNumber), x.Now()), 10)
	x.SetResponseHeader(bRateLimitReset, b)
	x.ScratchDone(b)
	return engine.Continue
}

var (
	bRateLimitLimit     = []byte("X-RateLimit-Limit")
	bRateLimitRemaining = []byte("X-RateLimit-Remaining")
	bRateLimitReset     = []byte("X-RateLimit-Reset")
)
