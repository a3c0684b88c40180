//go:build !linux

package lowprio

// Run runs f; only Linux lowers the thread's priority.
func Run(f func()) { f() }
