package http1

// ValidFieldName reports whether name is a token (RFC 9110 §5.1), so it can
// be written into a head as a field name. For config-time checks of fields
// that policies add.
func ValidFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if charClass[name[i]]&classToken == 0 {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether value can be written as a field value
// (RFC 9110 §5.5): field-vchar, SP and HTAB only, no leading or trailing
// whitespace. CR, LF and NUL, which would split or end the head, fail.
func ValidFieldValue(value string) bool {
	for i := 0; i < len(value); i++ {
		if charClass[value[i]]&classValue == 0 {
			return false
		}
	}
	n := len(value)
	return n == 0 || (value[0] != sp && value[0] != ht && value[n-1] != sp && value[n-1] != ht)
}
