package policies

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"

	"github.com/sluice-gw/sluice/engine"
)

// Collecting and checking a request's parameters into its ParamValues.
// Values are appended to pv.buf and recorded as offsets (the buffer grows
// while they are collected); a GET with query parameters only allocates
// nothing once the worker's ParamValues have grown.

// find returns the index of the parameter declared in place in with that
// name (header names compare case-insensitively), or -1.
func (p *params) find(in paramPlace, name []byte) int {
	for i := range p.decl {
		d := &p.decl[i]
		if d.in != in {
			continue
		}
		if in == inHeader {
			if len(name) == len(d.name) && strings.EqualFold(string(name), d.name) {
				return i
			}
		} else if string(name) == d.name {
			return i
		}
	}
	return -1
}

// setValue records buf[off:] as parameter i's value.
func (pv *ParamValues) setValue(i, off int, jsonRaw bool) {
	pv.vals[i] = paramValue{off: uint32(off), n: uint32(len(pv.buf) - off), present: true, jsonRaw: jsonRaw}
}

func (pv *ParamValues) value(i int) []byte {
	v := &pv.vals[i]
	return pv.buf[v.off : v.off+v.n]
}

func (pv *ParamValues) fail(name string, in paramPlace, msg string) {
	pv.fails = append(pv.fails, paramFailure{name: name, in: in, msg: msg})
}

// undeclaredArg handles an argument that is not declared.
func (pv *ParamValues) undeclaredArg(name []byte, in paramPlace) {
	if in == inBody {
		pv.bodyDrop = true
	} else {
		pv.dropped = true
	}
	if pv.p.undeclared == undeclaredReject {
		pv.fail(string(name), in, "is not a declared parameter")
	}
}

// collectArgs reads urlencoded arguments (a query or a form body).
func (pv *ParamValues) collectArgs(args []byte, in paramPlace) {
	n := 0
	visitArgs(args, func(rawName, rawValue []byte) {
		n++
		if n == pv.p.maxParams+1 {
			pv.fail("*", in, "more than "+itoa(pv.p.maxParams)+" parameters")
		}
		if n > pv.p.maxParams {
			return
		}
		name, ok := paramUnescape(pv, rawName)
		if !ok {
			pv.fail(string(rawName), in, "bad percent-encoding in the name")
			return
		}
		i := pv.p.find(in, name)
		if i < 0 {
			pv.undeclaredArg(name, in)
			return
		}
		if pv.vals[i].present {
			return // the first occurrence counts
		}
		off := len(pv.buf)
		if pv.buf, ok = appendUnescape(pv.buf, rawValue); !ok {
			pv.buf = pv.buf[:off]
			pv.fail(pv.p.decl[i].name, in, "bad percent-encoding")
			return
		}
		pv.setValue(i, off, false)
	})
}

// paramUnescape decodes a name when it needs it (into pv.out, free until
// a refusal is written).
func paramUnescape(pv *ParamValues, raw []byte) ([]byte, bool) {
	if bytes.IndexByte(raw, '%') < 0 && bytes.IndexByte(raw, '+') < 0 {
		return raw, true
	}
	var ok bool
	pv.out, ok = appendUnescape(pv.out[:0], raw)
	return pv.out, ok
}

// visitArgs calls fn with each "name=value" of urlencoded args, raw.
func visitArgs(args []byte, fn func(name, value []byte)) {
	for len(args) > 0 {
		arg := args
		if i := bytes.IndexByte(args, '&'); i >= 0 {
			arg, args = args[:i], args[i+1:]
		} else {
			args = nil
		}
		if len(arg) == 0 {
			continue
		}
		name, value := arg, arg[len(arg):]
		if i := bytes.IndexByte(arg, '='); i >= 0 {
			name, value = arg[:i], arg[i+1:]
		}
		fn(name, value)
	}
}

func (pv *ParamValues) collectQuery(q []byte) { pv.collectArgs(q, inQuery) }

func (pv *ParamValues) collectForm(body []byte) { pv.collectArgs(body, inBody) }

func (pv *ParamValues) collectHeaders(x *engine.Ctx) {
	for i := range pv.p.decl {
		d := &pv.p.decl[i]
		if d.in != inHeader {
			continue
		}
		if v, ok := x.Header(d.name); ok {
			off := len(pv.buf)
			pv.buf = append(pv.buf, v...)
			pv.setValue(i, off, false)
		}
	}
}

// collectJSON reads the members of a JSON object body.
func (pv *ParamValues) collectJSON(body []byte) {
	n := 0
	err := visitJSONObject(body, pv.p.maxDepth, func(rawKey, value []byte) bool {
		n++
		if n > pv.p.maxParams {
			pv.fail("*", inBody, "more than "+itoa(pv.p.maxParams)+" parameters")
			return false
		}
		var ok bool
		key := rawKey
		if bytes.IndexByte(rawKey, '\\') >= 0 {
			if pv.out, ok = appendJSONUnquote(pv.out[:0], rawKey); !ok {
				pv.fail("*", inBody, "bad JSON string")
				return false
			}
			key = pv.out
		}
		i := pv.p.find(inBody, key)
		if i < 0 {
			pv.undeclaredArg(key, inBody)
			return true
		}
		if pv.vals[i].present || string(value) == "null" {
			return true // the first occurrence counts; null is absent
		}
		d := &pv.p.decl[i]
		off := len(pv.buf)
		switch d.typ {
		case ptString:
			if value[0] != '"' {
				pv.fail(d.name, inBody, "must be a string")
				return true
			}
			if pv.buf, ok = appendJSONUnquote(pv.buf, value[1:len(value)-1]); !ok {
				pv.buf = pv.buf[:off]
				pv.fail(d.name, inBody, "bad JSON string")
				return true
			}
			pv.setValue(i, off, false)
			return true
		case ptFile:
			pv.fail(d.name, inBody, "must be a file (a multipart/form-data upload)")
			return true
		case ptNumber:
			if value[0] == '"' {
				pv.fail(d.name, inBody, "must be a number")
				return true
			}
		}
		pv.buf = append(pv.buf, value...)
		pv.setValue(i, off, true)
		return true
	})
	if err != "" {
		pv.fail("body", inBody, err)
	}
}

// collectMultipart reads the parts of a multipart/form-data body. It
// allocates (mime/multipart); uploads are not the hot path.
func (pv *ParamValues) collectMultipart(ct, body []byte) {
	_, mp, err := mime.ParseMediaType(string(ct))
	if err != nil || mp["boundary"] == "" {
		pv.fail("body", inBody, "multipart/form-data without a boundary")
		return
	}
	r := multipart.NewReader(bytes.NewReader(body), mp["boundary"])
	for n := 1; ; n++ {
		part, err := r.NextRawPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			pv.fail("body", inBody, "bad multipart body: "+err.Error())
			return
		}
		if n > pv.p.maxParams {
			pv.fail("*", inBody, "more than "+itoa(pv.p.maxParams)+" parameters")
			return
		}
		name := part.FormName()
		i := pv.p.find(inBody, []byte(name))
		if i < 0 {
			pv.undeclaredArg([]byte(name), inBody)
			continue
		}
		if pv.vals[i].present {
			continue
		}
		d := &pv.p.decl[i]
		off := len(pv.buf)
		buf := bytes.NewBuffer(pv.buf)
		m, err := io.Copy(buf, io.LimitReader(part, d.maxSize+1))
		pv.buf = buf.Bytes()
		if err != nil {
			pv.buf = pv.buf[:off]
			pv.fail(d.name, inBody, "bad multipart part: "+err.Error())
			continue
		}
		if m > d.maxSize {
			pv.buf = pv.buf[:off]
			pv.fail(d.name, inBody, "must be at most "+strconv.FormatInt(d.maxSize, 10)+" bytes")
			continue
		}
		pv.setValue(i, off, false)
		if d.typ == ptFile {
			if part.FileName() == "" {
				pv.fail(d.name, inBody, "must be a file (a part with a filename)")
				continue
			}
			pv.files = append(pv.files, paramFile{name: part.FileName(), ctype: part.Header.Get("Content-Type")})
			pv.vals[i].file = len(pv.files)
		}
	}
}

// finish applies constants and defaults and checks every parameter.
func (pv *ParamValues) finish() {
	p := pv.p
	for i := range p.decl {
		d := &p.decl[i]
		v := &pv.vals[i]
		switch {
		case d.hasConst:
			off := len(pv.buf)
			pv.buf = append(pv.buf, d.constant...)
			pv.setValue(i, off, false)
			v.filled = true
			continue
		case !v.present && d.hasDefault:
			off := len(pv.buf)
			pv.buf = append(pv.buf, d.def...)
			pv.setValue(i, off, false)
			v.filled = true
			continue
		case !v.present:
			if d.required {
				if d.typ == ptFile {
					pv.fail(d.name, d.in, "is required (a file)")
				} else {
					pv.fail(d.name, d.in, "is required")
				}
			}
			continue
		}
		if d.typ == ptFile && v.file == 0 {
			pv.fail(d.name, d.in, "must be a file (a multipart/form-data upload)")
			continue
		}
		if msg := d.check(pv.value(i), v.jsonRaw); msg != "" {
			pv.fail(d.name, d.in, msg)
			continue
		}
		if d.typ == ptFile && len(d.ctypes) > 0 && !contentTypeAllowed(pv.files[v.file-1].ctype, d.ctypes) {
			pv.fail(d.name, d.in, "must have a content type among "+strings.Join(d.ctypes, ", "))
		}
	}
}

// contentTypeAllowed matches a part's content type against a list of
// types ("image/png"), families ("image/*") and structured suffixes
// ("+json").
func contentTypeAllowed(ct string, allowed []string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, a := range allowed {
		// a is a contentTypeEntry: "type/subtype", "type/*" or "+suffix"
		// ("*" clears the list).
		if a == mt || strings.HasSuffix(a, "/*") && strings.HasPrefix(mt, a[:len(a)-1]) || a[0] == '+' && len(mt) > len(a) && strings.HasSuffix(mt, a) {
			return true
		}
	}
	return false
}

// appendRefusal writes the 400 body: the gateway's JSON error with every
// failing parameter.
func (pv *ParamValues) appendRefusal(dst, requestID []byte) []byte {
	dst = append(dst, `{"status":400,"error":"invalid request parameters","request_id":"`...)
	dst = append(dst, requestID...)
	dst = append(dst, `","params":[`...)
	for i, f := range pv.fails {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendParamJSONString(dst, f.name)
		dst = append(dst, `,"in":"`...)
		dst = append(dst, paramPlaceNames[f.in]...)
		dst = append(dst, `","error":`...)
		dst = appendParamJSONString(dst, f.msg)
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}

// appendUnescape appends raw (percent-encoded, '+' for space) decoded; ok
// is false for a bad escape.
func appendUnescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(raw) {
				return dst, false
			}
			h, ok1 := unhex(raw[i+1])
			l, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return dst, false
			}
			dst = append(dst, h<<4|l)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const upperHex = "0123456789ABCDEF"

// appendQueryEscape appends s percent-encoded for a query or form (only
// unreserved characters stay as they are).
func appendQueryEscape(dst []byte, s []byte) []byte {
	for _, c := range s {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}
