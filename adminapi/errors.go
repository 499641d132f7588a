package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice-gw/sluice/config"
	"github.com/sluice-gw/sluice/live"
)

// apiError is a response to send instead of the resource.
type apiError struct {
	status     int
	msg        string
	errs       []fieldError
	retryAfter string // seconds, for a 503
}

// fieldError is one problem of a refused configuration.
type fieldError struct {
	// Pointer is a JSON pointer into the request body ("/policies/0/config/count").
	Pointer string `json:"pointer"`
	// Path is the place in the whole configuration ("routes[3].policies[0].config.count").
	Path string `json:"path,omitempty"`
	// Line is the line in the request body, when known.
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

type errorBody struct {
	Error   string       `json:"error"`
	Errors  []fieldError `json:"errors,omitempty"`
	Version uint64       `json:"version,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg string, errs []fieldError, version uint64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // messages quote <redacted> as it is
	enc.SetIndent("", "  ")
	_ = enc.Encode(errorBody{Error: msg, Errors: errs, Version: version})
}

func (e *apiError) write(w http.ResponseWriter, version uint64) {
	if e.retryAfter != "" {
		w.Header().Set("Retry-After", e.retryAfter)
	}
	writeError(w, e.status, e.msg, e.errs, version)
}

// changeError turns the error of a refused change into its response.
// prefix is the config path of the resource the body described
// ("routes[3]"; "" for a whole config), which the body's JSON pointers
// are relative to.
func changeError(err error, prefix string) *apiError {
	switch {
	case errors.Is(err, live.ErrStale):
		return &apiError{status: http.StatusConflict, msg: err.Error() + "; read the resource again and retry"}
	case errors.Is(err, live.ErrHeld):
		return &apiError{status: http.StatusServiceUnavailable, msg: "an upgrade is under way: this process hands over to a new one and takes no change; retry in a few seconds, the new process will answer", retryAfter: "5"}
	case errors.Is(err, config.ErrNotFound):
		return &apiError{status: http.StatusNotFound, msg: strings.TrimPrefix(err.Error(), "config: ")}
	}
	var ces config.Errors
	var ce *config.Error
	switch {
	case errors.As(err, &ces):
	case errors.As(err, &ce):
		ces = config.Errors{ce}
	default:
		return &apiError{status: http.StatusBadRequest, msg: err.Error()}
	}
	out := &apiError{status: http.StatusBadRequest, msg: "invalid configuration"}
	if errors.Is(err, config.ErrSyntax) {
		out.msg = "malformed body"
	}
	for _, e := range ces {
		fe := fieldError{Path: e.Path, Line: e.Line, Message: e.Msg}
		rel := e.Path
		if prefix != "" {
			if r, ok := strings.CutPrefix(e.Path, prefix); ok && (r == "" || r[0] == '.' || r[0] == '[') {
				rel = r
			} else {
				rel = "" // about something else the change broke: pointer to the body
			}
		}
		fe.Pointer = config.Pointer(rel)
		out.errs = append(out.errs, fe)
	}
	if len(out.errs) == 1 {
		out.msg += ": " + out.errs[0].where() + out.errs[0].Message
	}
	return out
}

func (f fieldError) where() string {
	if f.Path != "" {
		return f.Path + ": "
	}
	return ""
}

// writeJSON answers v (already JSON) with the version as ETag.
func writeJSON(w http.ResponseWriter, status int, body []byte, version uint64) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if version != 0 {
		h.Set("ETag", strconv.Quote(strconv.FormatUint(version, 10)))
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
