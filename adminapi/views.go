package adminapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/sluice-gw/sluice/config"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func (a *API) getGlobals(w http.ResponseWriter, _ *http.Request) {
	cfg, ver := a.opts.Store.Current()
	a.answer(w, http.StatusOK, nonNil(cfg.GlobalPolicies), ver)
}

// putGlobals replaces the global policies; every route is compiled again.
func (a *API) putGlobals(w http.ResponseWriter, req *http.Request) {
	doc, aerr := readBody(w, req, maxResourceBody)
	res, ok := a.change(w, req, aerr, false, func() string { return "global_policies" }, func(cfg *config.Config) (*config.Config, error) {
		return cfg.PutGlobalPolicies(doc, req.Method+" "+req.URL.Path)
	})
	if !ok {
		return
	}
	a.answer(w, http.StatusOK, nonNil(res.Config.GlobalPolicies), res.New)
}

func (a *API) health(w http.ResponseWriter, req *http.Request) {
	_, ver := a.opts.Store.Current()
	name := req.PathValue("name")
	if a.opts.Health == nil {
		writeError(w, http.StatusNotFound, "no health view", nil, ver)
		return
	}
	v, ok := a.opts.Health(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no upstream named "+strconv.Quote(name), nil, ver)
		return
	}
	body, _ := json.MarshalIndent(v, "", "  ")
	writeJSON(w, http.StatusOK, body, ver)
}

func (a *API) listSchemas(w http.ResponseWriter, _ *http.Request) {
	var names []string
	if a.opts.Policies != nil {
		names = a.opts.Policies()
	}
	body, _ := json.Marshal(nonNil(names))
	writeJSON(w, http.StatusOK, body, 0)
}

func (a *API) schema(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	if a.opts.Schema != nil {
		if s, ok := a.opts.Schema(name); ok {
			w.Header().Set("Content-Type", "application/schema+json")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(s)
			return
		}
	}
	writeError(w, http.StatusNotFound, "no policy named "+strconv.Quote(name)+" (GET /schemas/policies lists them)", nil, 0)
}
