package router

// Byte classes, one table each, indexed by byte.
var (
	// tokenChars are RFC 9110 tchar: the bytes of a method.
	tokenChars = byteSet("!#$%&'*+-.^_`|~0123456789" + alpha)
	// pathChars are the RFC 3986 pchar bytes plus "/": what a path pattern
	// may hold besides its "{name}" segments and a final "/*". "*" is left
	// out so that it can only mean a prefix.
	pathChars = byteSet(alpha + "0123456789-._~" + "%" + "!$&'()+,;=" + ":@" + "/")
	// hostLabelChars may appear in a host name label (lower case only:
	// patterns and request hosts are lowered before use). "_" is not valid
	// in DNS host names but common in internal ones.
	hostLabelChars = byteSet("abcdefghijklmnopqrstuvwxyz0123456789-_")
	// ipv6Chars may appear between the brackets of an IPv6 literal,
	// including a zone ("%25eth0") and an embedded IPv4.
	ipv6Chars = byteSet("0123456789abcdef:.%" + "ghijklmnopqrstuvwxyz")
	// paramNameChars may appear in a {name}.
	paramNameChars = byteSet(alpha + "0123456789_")
)

const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// toLower maps ASCII upper case to lower case and every other byte to itself.
var toLower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

func byteSet(chars string) (t [256]bool) {
	for i := 0; i < len(chars); i++ {
		t[chars[i]] = true
	}
	return t
}
