//go:build !linux

package inference

// withLowPriority runs f; only Linux lowers the loading thread's priority.
func withLowPriority(f func()) { f() }
