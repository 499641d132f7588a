package policies

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// responseConfig is the `response` policy's config: a fixed answer, for
// mocks and request termination (Kong's request-termination).
type responseConfig struct {
	// Status of the answer, 200..599. Default 200.
	Status int `yaml:"status" desc:"status of the answer, 200..599; default 200"`
	// Body of the answer. Default empty.
	Body string `yaml:"body" desc:"body of the answer; default empty"`
	// ContentType of the body. Default "text/plain; charset=utf-8" when
	// Body is set.
	ContentType string `yaml:"content_type" desc:"Content-Type of the body; default text/plain; charset=utf-8 when body is set"`
	// Headers added to the answer.
	Headers map[string]string `yaml:"headers" desc:"fields added to the answer, by name"`
}

// responsePolicy answers every request of its route itself, after the
// access phase's other policies (auth, limits) had their say.
type responsePolicy struct {
	status int
	fields []byte // pre-serialized field lines
	body   []byte
}

// responsePriority puts `response` after every access check.
const responsePriority = -1000

func init() { RegisterConfig("response", responseConfig{}, newResponse) }

func newResponse(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg responseConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	if cfg.Status == 0 {
		cfg.Status = http.StatusOK
	}
	if cfg.Status < 200 || cfg.Status > 599 {
		return nil, config.FieldError(spec, "status", fmt.Sprintf("must be between 200 and 599, got %d", cfg.Status))
	}
	// content_type, and a Content-Type among headers, become a field line
	// of the answer as the others do: checked as the others are, or a CR
	// LF in them would write fields of their own.
	if cfg.ContentType != "" {
		if err := checkField("Content-Type", cfg.ContentType); err != nil {
			return nil, config.FieldError(spec, "content_type", err.Error())
		}
	}
	for n := range cfg.Headers {
		if strings.EqualFold(n, "Content-Type") {
			if cfg.ContentType != "" {
				return nil, config.FieldError(spec, "headers."+n, "Content-Type is set twice (content_type and headers)")
			}
			if err := checkField(n, cfg.Headers[n]); err != nil {
				return nil, config.FieldError(spec, "headers."+n, err.Error())
			}
			cfg.ContentType = cfg.Headers[n]
			delete(cfg.Headers, n)
		}
	}
	if cfg.ContentType == "" && cfg.Body != "" {
		cfg.ContentType = "text/plain; charset=utf-8"
	}
	p := &responsePolicy{status: cfg.Status, body: []byte(cfg.Body)}
	if cfg.ContentType != "" {
		p.fields = appendField(p.fields, "Content-Type", cfg.ContentType)
	}
	names := make([]string, 0, len(cfg.Headers))
	for n := range cfg.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	if (cfg.Status == 204 || cfg.Status == 304) && cfg.Body != "" {
		return nil, config.FieldError(spec, "body", fmt.Sprintf("a %d response has no body", cfg.Status))
	}
	for _, n := range names {
		if err := checkField(n, cfg.Headers[n]); err != nil {
			return nil, config.FieldError(spec, "headers."+n, err.Error())
		}
		if why := gatewayOwned(n, false); why != "" {
			return nil, config.FieldError(spec, "headers."+n, n+" "+why)
		}
		p.fields = appendField(p.fields, n, cfg.Headers[n])
	}
	return p, nil
}

func (p *responsePolicy) Priority() int    { return responsePriority }
func (p *responsePolicy) Terminates() bool { return true }

func (p *responsePolicy) Install(c *engine.ChainBuilder) error {
	c.Add(engine.PhaseContent, p.respond)
	return nil
}

func (p *responsePolicy) respond(x *engine.Ctx) engine.Status {
	x.Respond(p.status, p.fields, p.body)
	return engine.Done
}

func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// checkField refuses a field name that is not a token or a value with
// bytes that would break the head (CR, LF, NUL and other controls).
func checkField(name, value string) error {
	if !http1.ValidFieldName(name) {
		return fmt.Errorf("%q is not a valid field name", name)
	}
	if !http1.ValidFieldValue(value) {
		return fmt.Errorf("value %q has bytes not allowed in a field value", value)
	}
	return nil
}
