package lowprio

import (
	"runtime"
	"syscall"
)

// Nice is how much Run raises the nice value of the OS thread it runs f on: at 10,
// a busy thread gets about a tenth of a core that normal threads also want.
const Nice = 10

// Run runs f on an OS thread of its own whose nice value is raised by Nice while f
// runs, and returns when f has. Threads f starts meanwhile (ONNX Runtime's) inherit
// the lower priority; goroutines f starts do not. If the thread's priority cannot be
// restored (lowering a nice value needs CAP_SYS_NICE or RLIMIT_NICE), the thread
// exits with the goroutine instead of going back to the Go scheduler's pool.
func Run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		tid := syscall.Gettid()
		raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		nice := 20 - raw // the raw system call returns 20 - nice
		if err != nil || syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(nice+Nice, 19)) != nil {
			runtime.UnlockOSThread()
			f()
			return
		}
		f()
		if syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice) == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
}
