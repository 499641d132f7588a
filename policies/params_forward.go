package policies

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"

	"github.com/sluice-gw/sluice/engine"
)

// What the backend receives: the query, headers and body rebuilt only when
// something changed (an undeclared parameter removed, a default or
// constant filled in, a parameter renamed or moved). A request whose
// parameters are all declared and in place is forwarded as it came, with
// nothing copied.

// changes reports whether the query and the body must be rebuilt.
func (pv *ParamValues) changes() (query, body bool) {
	p := pv.p
	query = pv.dropped && p.undeclared == undeclaredRemove
	body = pv.bodyDrop && p.undeclared == undeclaredRemove
	for i := range p.decl {
		d, v := &p.decl[i], &pv.vals[i]
		if !v.present || !v.filled && !d.moved {
			continue
		}
		if d.fwdIn == inQuery || d.in == inQuery && d.moved {
			query = true
		}
		if d.fwdIn == inBody || d.in == inBody && d.moved {
			body = true
		}
	}
	return query, body
}

// forward writes the parameters where the backend expects them.
func (pv *ParamValues) forward(x *engine.Ctx, kind bodyKind, body []byte) error {
	p := pv.p
	rebuildQuery, rebuildBody := pv.changes()
	for i := range p.decl {
		d, v := &p.decl[i], &pv.vals[i]
		if d.in == inHeader && d.moved {
			x.RemoveRequestHeader([]byte(d.name))
		}
		if v.present && d.fwdIn == inHeader && (v.filled || d.moved) {
			x.SetRequestHeader([]byte(d.fwdName), pv.value(i))
		}
	}
	if rebuildQuery {
		t := append(pv.extra[:0], x.Path()...)
		mark := len(t)
		t = append(t, '?')
		t = pv.appendArgs(t, x.Query(), inQuery)
		if len(t) == mark+1 {
			t = t[:mark]
		}
		x.SetUpstreamTarget(t)
		pv.extra = t[:0]
	}
	if !rebuildBody {
		return nil
	}
	var out []byte
	switch kind {
	case bodyJSON:
		out = pv.appendJSONBody(pv.extra[:0], body)
	case bodyMultipart:
		ct, _ := x.Header("Content-Type")
		var ctype string
		var err error
		out, ctype, err = pv.multipartBody(ct, body)
		if err != nil {
			return err
		}
		x.SetRequestHeader([]byte("Content-Type"), []byte(ctype))
	default:
		if kind == bodyNone && x.HasBody() {
			return errors.New("parameters are forwarded into a body that is neither a form, JSON nor multipart")
		}
		out = pv.appendArgs(pv.extra[:0], body, inBody)
		if kind == bodyNone {
			x.SetRequestHeaderString("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	pv.extra = out[:0]
	return x.SetBody(out)
}

// keepsRaw says whether a client's argument (its declared index, or -1)
// is forwarded as it was written.
func (pv *ParamValues) keepsRaw(i int) bool {
	if i < 0 {
		return pv.p.undeclared == undeclaredKeep
	}
	d, v := &pv.p.decl[i], &pv.vals[i]
	return v.present && !v.filled && !d.moved
}

// appendArgs appends urlencoded arguments for place to: the client's that
// stay as written (raw, first occurrence), then the ones filled in or
// moved here.
func (pv *ParamValues) appendArgs(dst, orig []byte, to paramPlace) []byte {
	p := pv.p
	start := len(dst)
	var seen uint64 // declared arguments already written (the first 64)
	sep := func() {
		if len(dst) > start {
			dst = append(dst, '&')
		}
	}
	visitArgs(orig, func(rawName, rawValue []byte) {
		name, ok := paramUnescape(pv, rawName)
		if !ok {
			return
		}
		i := p.find(to, name)
		if !pv.keepsRaw(i) {
			return
		}
		if i >= 0 && i < 64 {
			if seen&(1<<i) != 0 {
				return
			}
			seen |= 1 << i
		}
		sep()
		dst = append(dst, rawName...)
		if len(rawValue) > 0 || i >= 0 {
			dst = append(dst, '=')
			dst = append(dst, rawValue...)
		}
	})
	for i := range p.decl {
		d, v := &p.decl[i], &pv.vals[i]
		if !v.present || d.fwdIn != to || !v.filled && !d.moved {
			continue
		}
		sep()
		dst = appendQueryEscape(dst, []byte(d.fwdName))
		dst = append(dst, '=')
		dst = appendQueryEscape(dst, pv.value(i))
	}
	return dst
}

// appendJSONBody appends the JSON object forwarded: the client's members
// that stay, then the ones filled in or moved here.
func (pv *ParamValues) appendJSONBody(dst, orig []byte) []byte {
	p := pv.p
	dst = append(dst, '{')
	first := true
	if len(orig) > 0 {
		var seen uint64
		visitJSONObject(orig, p.maxDepth, func(rawKey, value []byte) bool {
			key := rawKey
			if bytes.IndexByte(rawKey, '\\') >= 0 {
				key, _ = appendJSONUnquote(pv.out[:0], rawKey)
				pv.out = key
			}
			i := p.find(inBody, key)
			if !pv.keepsRaw(i) || string(value) == "null" && i >= 0 {
				return true
			}
			if i >= 0 && i < 64 {
				if seen&(1<<i) != 0 {
					return true
				}
				seen |= 1 << i
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '"')
			dst = append(dst, rawKey...)
			dst = append(dst, `":`...)
			dst = append(dst, value...)
			return true
		})
	}
	for i := range p.decl {
		d, v := &p.decl[i], &pv.vals[i]
		if !v.present || d.fwdIn != inBody || !v.filled && !d.moved {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendParamJSONString(dst, d.fwdName)
		dst = append(dst, ':')
		val := pv.value(i)
		if d.typ == ptString {
			dst = appendParamJSONString(dst, val)
		} else {
			dst = append(dst, val...)
		}
	}
	return append(dst, '}')
}

// multipartBody rebuilds a multipart body (it allocates, as uploads do):
// the parts that stay, copied, then the fields filled in or moved here.
func (pv *ParamValues) multipartBody(ct, orig []byte) ([]byte, string, error) {
	p := pv.p
	_, mp, err := mime.ParseMediaType(string(ct))
	if err != nil {
		return nil, "", err
	}
	var out bytes.Buffer
	w := multipart.NewWriter(&out)
	r := multipart.NewReader(bytes.NewReader(orig), mp["boundary"])
	seen := map[int]bool{}
	for {
		part, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", err
		}
		i := p.find(inBody, []byte(part.FormName()))
		if !pv.keepsRaw(i) || seen[i] && i >= 0 {
			continue
		}
		seen[i] = true
		pw, err := w.CreatePart(part.Header)
		if err != nil {
			return nil, "", err
		}
		if _, err := io.Copy(pw, part); err != nil {
			return nil, "", err
		}
	}
	for i := range p.decl {
		d, v := &p.decl[i], &pv.vals[i]
		if !v.present || d.fwdIn != inBody || !v.filled && !d.moved {
			continue
		}
		if v.file > 0 {
			f := pv.files[v.file-1]
			h := make(map[string][]string)
			h["Content-Disposition"] = []string{mime.FormatMediaType("form-data", map[string]string{"name": d.fwdName, "filename": f.name})}
			if f.ctype != "" {
				h["Content-Type"] = []string{f.ctype}
			}
			pw, err := w.CreatePart(h)
			if err != nil {
				return nil, "", err
			}
			pw.Write(pv.value(i))
			continue
		}
		if err := w.WriteField(d.fwdName, string(pv.value(i))); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), w.FormDataContentType(), nil
}
