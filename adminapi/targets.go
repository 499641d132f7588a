package adminapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/sluice-gw/sluice/config"
)

// targetDoc is the body of PUT /upstreams/NAME/targets/ADDR: the target's
// settings, each optional (absent: kept for a target that exists, the
// default for a new one).
type targetDoc struct {
	Weight      *int    `json:"weight"`
	Down        *bool   `json:"down"`
	Backup      *bool   `json:"backup"`
	MaxFails    *int    `json:"max_fails"`
	FailTimeout *string `json:"fail_timeout"`
}

// putTarget adds a target to an upstream or changes its settings
// (nginx-upsync's add/weight/down), as an edit of the upstream.
func (a *API) putTarget(w http.ResponseWriter, req *http.Request) {
	var doc targetDoc
	body, aerr := readBody(w, req, maxResourceBody)
	if aerr == nil && len(body) > 0 {
		dec := json.NewDecoder(bytesReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			aerr = &apiError{status: http.StatusBadRequest, msg: "the body must be {\"weight\": N, \"down\": BOOL, \"backup\": BOOL, \"max_fails\": N, \"fail_timeout\": \"10s\"}: " + err.Error()}
		}
	}
	addr := req.PathValue("addr")
	a.write(w, req, upstreamsResource, req.PathValue("name"), aerr, func(cfg *config.Config) (*config.Config, int, error) {
		return a.editTargets(cfg, req, func(targets []map[string]any) []map[string]any {
			t := findTarget(targets, addr)
			if t == nil {
				t = map[string]any{"addr": addr}
				targets = append(targets, t)
			}
			set := func(k string, v any, ok bool) {
				if ok {
					t[k] = v
				}
			}
			set("weight", deref(doc.Weight), doc.Weight != nil)
			set("down", deref(doc.Down), doc.Down != nil)
			set("backup", deref(doc.Backup), doc.Backup != nil)
			set("max_fails", deref(doc.MaxFails), doc.MaxFails != nil)
			set("fail_timeout", deref(doc.FailTimeout), doc.FailTimeout != nil)
			return targets
		})
	})
}

// deleteTarget removes a target from an upstream.
func (a *API) deleteTarget(w http.ResponseWriter, req *http.Request) {
	addr := req.PathValue("addr")
	a.write(w, req, upstreamsResource, req.PathValue("name"), nil, func(cfg *config.Config) (*config.Config, int, error) {
		missing := false
		next, i, err := a.editTargets(cfg, req, func(targets []map[string]any) []map[string]any {
			for j, t := range targets {
				if t["addr"] == addr {
					return append(targets[:j], targets[j+1:]...)
				}
			}
			missing = true
			return targets
		})
		if err == nil && missing {
			return nil, i, &notFoundError{what: "target of upstream " + strconv.Quote(req.PathValue("name")) + ": ", name: addr}
		}
		return next, i, err
	})
}

// editTargets edits the targets of the upstream the URL names, through
// its JSON form, and puts the upstream back: the same validation as a PUT
// of the whole upstream.
func (a *API) editTargets(cfg *config.Config, req *http.Request, fn func([]map[string]any) []map[string]any) (*config.Config, int, error) {
	name := req.PathValue("name")
	i := cfg.UpstreamIndex(name)
	if i < 0 {
		return nil, -1, notFound(upstreamsResource, name)
	}
	cur, err := config.EncodeJSONWithSecrets(&cfg.Upstreams[i])
	if err != nil {
		return nil, i, err
	}
	var u map[string]any
	if err := json.Unmarshal(cur, &u); err != nil {
		return nil, i, err
	}
	var targets []map[string]any
	if raw, err := json.Marshal(u["targets"]); err == nil {
		_ = json.Unmarshal(raw, &targets)
	}
	u["targets"] = fn(targets)
	doc, err := json.Marshal(u)
	if err != nil {
		return nil, i, err
	}
	// The upstream is going down to zero targets only if discovery
	// feeds it; PutUpstream says so otherwise.
	return cfg.PutUpstream(name, doc, req.Method+" "+req.URL.Path)
}

func findTarget(targets []map[string]any, addr string) map[string]any {
	for _, t := range targets {
		if t["addr"] == addr {
			return t
		}
	}
	return nil
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
