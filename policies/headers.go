package policies

import (
	"sort"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/engine"
	"github.com/sluice-gw/sluice/http1"
)

// headersConfig is the `headers` policy's config: edits of the request sent
// upstream and of the response sent back.
type headersConfig struct {
	Request  headerEdits `yaml:"request" desc:"edits of the request sent upstream"`
	Response headerEdits `yaml:"response" desc:"edits of the response sent to the client (also the gateway's own answers)"`
}

// headerEdits: Set replaces every field of the name (or adds it), Add
// appends a field, Remove drops every field of the name. Remove applies
// first, then Set, then Add.
type headerEdits struct {
	Set    map[string]string `yaml:"set" desc:"fields to replace (or add), by name"`
	Add    map[string]string `yaml:"add" desc:"fields to add beside those of the same name"`
	Remove []string          `yaml:"remove" desc:"names of fields to drop; applied before set and add"`
}

// compiledEdits holds the edits as byte slices made once per config, so
// applying them costs copies into the request's Edits arena and nothing else.
type compiledEdits struct {
	remove [][]byte
	set    [][2][]byte
	add    [][2][]byte
}

func (c *compiledEdits) empty() bool {
	return len(c.remove) == 0 && len(c.set) == 0 && len(c.add) == 0
}

// applyRequest edits the request sent upstream.
func (c *compiledEdits) applyRequest(x *engine.Ctx) {
	for _, n := range c.remove {
		x.RemoveRequestHeader(n)
	}
	for _, kv := range c.set {
		x.SetRequestHeader(kv[0], kv[1])
	}
	for _, kv := range c.add {
		x.AddRequestHeader(kv[0], kv[1])
	}
}

// applyResponse edits the response sent to the client.
func (c *compiledEdits) applyResponse(x *engine.Ctx) {
	for _, n := range c.remove {
		x.RemoveResponseHeader(n)
	}
	for _, kv := range c.set {
		x.SetResponseHeader(kv[0], kv[1])
	}
	for _, kv := range c.add {
		x.AddResponseHeader(kv[0], kv[1])
	}
}

type headersPolicy struct {
	request, response compiledEdits
}

// headersPriority runs header edits early in their phase. The edits apply
// to the head sent upstream: other policies, and hash_on, read the request
// as the client sent it.
const headersPriority = 1000

func init() { RegisterConfig("headers", headersConfig{}, newHeaders) }

func newHeaders(spec config.PolicySpec, _ *engine.Env) (engine.Policy, error) {
	var cfg headersConfig
	if err := config.DecodePolicyConfig(spec, &cfg); err != nil {
		return nil, err
	}
	p := &headersPolicy{}
	if err := compileEdits(spec, "request", &cfg.Request, &p.request); err != nil {
		return nil, err
	}
	if err := compileEdits(spec, "response", &cfg.Response, &p.response); err != nil {
		return nil, err
	}
	return p, nil
}

func compileEdits(spec config.PolicySpec, side string, in *headerEdits, out *compiledEdits) error {
	request := side == "request"
	for i, n := range in.Remove {
		if !http1.ValidFieldName(n) {
			return config.FieldError(spec, side+".remove["+itoa(i)+"]", "not a valid field name: "+quote(n))
		}
		if why := gatewayOwned(n, request); why != "" {
			return config.FieldError(spec, side+".remove["+itoa(i)+"]", n+" "+why)
		}
		out.remove = append(out.remove, []byte(n))
	}
	pairs := func(kind string, m map[string]string) ([][2][]byte, error) {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		var kvs [][2][]byte
		for _, n := range names {
			if err := checkField(n, m[n]); err != nil {
				return nil, config.FieldError(spec, side+"."+kind+"."+n, err.Error())
			}
			if why := gatewayOwned(n, request); why != "" {
				return nil, config.FieldError(spec, side+"."+kind+"."+n, n+" "+why)
			}
			kvs = append(kvs, [2][]byte{[]byte(n), []byte(m[n])})
		}
		return kvs, nil
	}
	var err error
	if out.set, err = pairs("set", in.Set); err != nil {
		return err
	}
	out.add, err = pairs("add", in.Add)
	return err
}

func (p *headersPolicy) Priority() int { return headersPriority }

func (p *headersPolicy) Install(c *engine.ChainBuilder) error {
	if !p.request.empty() {
		c.Add(engine.PhaseRewrite, p.editRequest)
	}
	if !p.response.empty() {
		c.Add(engine.PhaseHeaderFilter, p.editResponse)
	}
	return nil
}

func (p *headersPolicy) editRequest(x *engine.Ctx) engine.Status {
	p.request.applyRequest(x)
	return engine.Continue
}

func (p *headersPolicy) editResponse(x *engine.Ctx) engine.Status {
	p.response.applyResponse(x)
	return engine.Continue
}
