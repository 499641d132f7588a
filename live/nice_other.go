//go:build !linux

package live

// niceThisThread does nothing where threads have no nice of their own.
func niceThisThread(int) {}
