//go:build !linux

package lowprio

// ThisThread does nothing where threads have no priority of their own
// that Go can set.
func ThisThread() {}
