package inference

import (
	"runtime"
	"syscall"
)

// loadNice is how much LoadModel raises the nice value of the OS thread that
// loads a model: a load is seconds of CPU for a large model, and on a small pod
// it would otherwise take cores from the requests the serving model answers.
const loadNice = 10

// withLowPriority runs f on an OS thread of its own whose nice value is raised
// by loadNice while f runs, and returns when f has. Threads ONNX Runtime starts
// meanwhile inherit the lower priority. If the thread's priority cannot be
// restored (lowering a nice value needs CAP_SYS_NICE or RLIMIT_NICE), the thread
// exits with the goroutine instead of going back to the Go scheduler's pool.
func withLowPriority(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		tid := syscall.Gettid()
		raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		nice := 20 - raw // the raw system call returns 20 - nice
		if err != nil || syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(nice+loadNice, 19)) != nil {
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
