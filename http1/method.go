package http1

// Method is a request method. Methods are case-sensitive (RFC 9110 §9.1):
// "get" is MethodOther. The name as sent is always in Request.MethodName.
type Method uint8

const (
	MethodOther Method = iota
	MethodGET
	MethodHEAD
	MethodPOST
	MethodPUT
	MethodDELETE
	MethodCONNECT
	MethodOPTIONS
	MethodTRACE
	MethodPATCH
)

var methodNames = [...]string{
	MethodOther:   "",
	MethodGET:     "GET",
	MethodHEAD:    "HEAD",
	MethodPOST:    "POST",
	MethodPUT:     "PUT",
	MethodDELETE:  "DELETE",
	MethodCONNECT: "CONNECT",
	MethodOPTIONS: "OPTIONS",
	MethodTRACE:   "TRACE",
	MethodPATCH:   "PATCH",
}

// String returns the method's name; "" for MethodOther.
func (m Method) String() string {
	if int(m) < len(methodNames) {
		return methodNames[m]
	}
	return ""
}

// Idempotent reports RFC 9110 §9.2.2 idempotence (GET HEAD PUT DELETE OPTIONS TRACE).
func (m Method) Idempotent() bool {
	switch m {
	case MethodGET, MethodHEAD, MethodPUT, MethodDELETE, MethodOPTIONS, MethodTRACE:
		return true
	}
	return false
}

// Safe reports RFC 9110 §9.2.1 safety (GET HEAD OPTIONS TRACE).
func (m Method) Safe() bool {
	switch m {
	case MethodGET, MethodHEAD, MethodOPTIONS, MethodTRACE:
		return true
	}
	return false
}

// lookupMethod maps a method token to its Method, MethodOther if unknown.
func lookupMethod(name []byte) Method {
	switch len(name) {
	case 3:
		if string(name) == "GET" {
			return MethodGET
		}
		if string(name) == "PUT" {
			return MethodPUT
		}
	case 4:
		if string(name) == "POST" {
			return MethodPOST
		}
		if string(name) == "HEAD" {
			return MethodHEAD
		}
	case 5:
		if string(name) == "PATCH" {
			return MethodPATCH
		}
		if string(name) == "TRACE" {
			return MethodTRACE
		}
	case 6:
		if string(name) == "DELETE" {
			return MethodDELETE
		}
	case 7:
		if string(name) == "OPTIONS" {
			return MethodOPTIONS
		}
		if string(name) == "CONNECT" {
			return MethodCONNECT
		}
	}
	return MethodOther
}
