package http1

// editOp is what one edit does to the fields of a head.
type editOp uint8

const (
	opDead   editOp = iota // superseded by a later Set or Remove of the same name
	opSet                  // drop every original field of the name, emit this one
	opAdd                  // emit this one, keep the originals
	opRemove               // drop every original field of the name
)

type edit struct {
	op    editOp
	name  Span // in Edits.arena
	value Span // in Edits.arena
}

// Edits describes changes to a head for AppendRequestHead and
// AppendResponseHead. Names and values are copied into Edits' own arena,
// so the caller's slices may be reused at once; once warm (after the first
// request of a connection) editing does not allocate.
//
// Invalid input is refused, not emitted: a name that is not a token, a value
// with CR, LF or another CTL, a target or host with bytes they cannot hold.
// The edit is dropped and Err reports the first such refusal, so a caller
// that forgets to check can still not inject a field line or split a head.
//
// Edits is reusable through Reset and is not safe for concurrent use.
type Edits struct {
	// KeepUpgrade keeps the Upgrade field and sends "Connection: upgrade"
	// (tunnelling a protocol switch, e.g. WebSocket). Without it Upgrade is
	// hop-by-hop and dropped.
	KeepUpgrade bool

	arena []byte
	ops   []edit

	target, host, forwardedFor, method    Span // in arena
	hasTarget, hasHost, hasFor, hasMethod bool
	status                                int // a response's new status; 0: unchanged
	err                                   error

	_ noCopy
}

// Reset clears e, keeping its arena and capacity.
func (e *Edits) Reset() {
	*e = Edits{arena: e.arena[:0], ops: e.ops[:0]}
}

// Err returns the first refused edit's error (ErrFieldName, ErrFieldValue,
// ErrBadRequestLine for a target, ErrHost), or nil.
func (e *Edits) Err() error { return e.err }

// Set replaces every field named name (ASCII case-insensitive) with one
// "name: value" line. Setting Host is SetHost.
func (e *Edits) Set(name, value []byte) { e.addOp(opSet, name, value) }

// SetString is Set with strings.
func (e *Edits) SetString(name, value string) { e.addOpString(opSet, name, value) }

// Add adds a "name: value" line, keeping existing fields of that name.
func (e *Edits) Add(name, value []byte) { e.addOp(opAdd, name, value) }

// AddString is Add with strings.
func (e *Edits) AddString(name, value string) { e.addOpString(opAdd, name, value) }

// Remove drops every field named name, original or added before. Removing
// Host is ignored: the forwarded request always carries one.
func (e *Edits) Remove(name []byte) { e.addOp(opRemove, name, nil) }

// RemoveString is Remove with a string.
func (e *Edits) RemoveString(name string) { e.addOpString(opRemove, name, "") }

// SetTarget sets the origin-form target (path and query) sent upstream. It
// must start with '/' and hold only visible ASCII without '#'.
func (e *Edits) SetTarget(target []byte) {
	if len(target) == 0 || target[0] != '/' || !allIn(target, classTarget) {
		e.refuse(ErrBadRequestLine)
		return
	}
	e.target, e.hasTarget = e.store(target), true
}

// SetMethod sets the method of the request line sent upstream; it must be
// a token ("GET", "POST", "PURGE"...).
func (e *Edits) SetMethod(method []byte) {
	if len(method) == 0 || !allIn(method, classToken) {
		e.refuse(ErrBadRequestLine)
		return
	}
	e.method, e.hasMethod = e.store(method), true
}

// SetStatus sets the status of a response head (100..599); the reason
// phrase becomes the standard one for it.
func (e *Edits) SetStatus(status int) {
	if status < 100 || status > 599 {
		e.refuse(ErrBadStatusLine)
		return
	}
	e.status = status
}

// Status is the status set by SetStatus, or 0.
func (e *Edits) Status() int { return e.status }

// TargetSet reports whether SetTarget was called.
func (e *Edits) TargetSet() bool { return e.hasTarget }

// HostSet reports whether SetHost was called.
func (e *Edits) HostSet() bool { return e.hasHost }

// SetHost sets the Host sent upstream (uri-host [":" port]).
func (e *Edits) SetHost(host []byte) {
	if len(host) == 0 || !allIn(host, classHost) {
		e.refuse(ErrHost)
		return
	}
	e.host, e.hasHost = e.store(host), true
}

// ForwardedFor sends X-Forwarded-For as the existing values + ", " +
// clientIP, or clientIP alone when there were none.
func (e *Edits) ForwardedFor(clientIP []byte) {
	if len(clientIP) == 0 || !allIn(clientIP, classHost) {
		e.refuse(ErrFieldValue)
		return
	}
	e.forwardedFor, e.hasFor = e.store(clientIP), true
}

// ForwardedProto sets X-Forwarded-Proto.
func (e *Edits) ForwardedProto(proto []byte) { e.addOp(opSet, []byte("X-Forwarded-Proto"), proto) }

// ForwardedHost sets X-Forwarded-Host.
func (e *Edits) ForwardedHost(host []byte) { e.addOp(opSet, []byte("X-Forwarded-Host"), host) }

func (e *Edits) addOpString(op editOp, name, value string) {
	// The conversions do not allocate: the compiler sees they do not escape.
	e.addOp(op, []byte(name), []byte(value))
}

func (e *Edits) addOp(op editOp, name, value []byte) {
	if len(name) == 0 || !allIn(name, classToken) {
		e.refuse(ErrFieldName)
		return
	}
	value = trimOWS(value)
	if !allIn(value, classValue) {
		e.refuse(ErrFieldValue)
		return
	}
	if op != opAdd && equalFold(name, "host") {
		if op == opSet {
			e.SetHost(value)
		}
		return // Remove of Host is ignored: a forwarded request always carries Host
	}
	if op != opAdd {
		for i := range e.ops {
			if e.ops[i].op != opDead && equalFoldAny(e.ops[i].name.In(e.arena), name) {
				e.ops[i].op = opDead
			}
		}
	}
	n := e.store(name)
	e.ops = append(e.ops, edit{op: op, name: n, value: e.store(value)})
}

func (e *Edits) store(b []byte) Span {
	off := len(e.arena)
	e.arena = append(e.arena, b...)
	return span(off, len(e.arena))
}

func (e *Edits) refuse(err error) {
	if e.err == nil {
		e.err = err
	}
}

// drops reports whether the edits remove or replace original fields named name.
func (e *Edits) drops(name []byte) bool {
	for i := range e.ops {
		op := &e.ops[i]
		if (op.op == opSet || op.op == opRemove) && int(op.name.Len) == len(name) &&
			equalFoldAny(op.name.In(e.arena), name) {
			return true
		}
	}
	return false
}

func allIn(b []byte, class uint8) bool {
	for _, c := range b {
		if charClass[c]&class == 0 {
			return false
		}
	}
	return true
}
