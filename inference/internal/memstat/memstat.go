//go:build linux && cgo

// Package memstat measures the process's memory for Talon's memory tests: the
// resident set and its peak from /proc/self/status, the bytes the C heap has
// handed out (where ONNX Runtime's sessions live), and a settle step that
// returns freed Go and C heap memory to the operating system before a reading.
package memstat

/*
#include <malloc.h>

#ifdef __GLIBC__
static long long c_heap_in_use(void) {
	struct mallinfo2 mi = mallinfo2();
	return (long long)(mi.uordblks + mi.hblkhd);
}
static void c_heap_trim(void) { malloc_trim(0); }
#else
static long long c_heap_in_use(void) { return -1; }
static void c_heap_trim(void) {}
#endif
*/
import "C"

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Status is a reading of /proc/self/status, in bytes.
type Status struct {
	// RSS is the resident set now (VmRSS); Peak the largest it has been since
	// the process started or ResetPeak (VmHWM).
	RSS, Peak int64
}

// Read reads the process's resident set and its peak.
func Read() (Status, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Status{}, fmt.Errorf("memstat: %w", err)
	}
	var s Status
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		if k != "VmRSS" && k != "VmHWM" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return Status{}, fmt.Errorf("memstat: /proc/self/status: %q: %w", sc.Text(), err)
		}
		if k == "VmRSS" {
			s.RSS = kb << 10
		} else {
			s.Peak = kb << 10
		}
	}
	if s.RSS == 0 || s.Peak == 0 {
		return Status{}, fmt.Errorf("memstat: /proc/self/status has no VmRSS or VmHWM")
	}
	return s, nil
}

// ResetPeak sets the peak (VmHWM) to the current resident set (Linux's
// /proc/self/clear_refs, value 5).
func ResetPeak() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("memstat: reset peak RSS: %w", err)
	}
	return nil
}

// Settle collects garbage, returns the Go heap's free pages to the operating
// system and has glibc's malloc do the same (malloc_trim), so a following Read
// counts memory in use rather than memory the allocators keep for later.
func Settle() {
	runtime.GC()
	debug.FreeOSMemory()
	C.c_heap_trim()
}

// CHeap returns the bytes the C heap has handed out and not yet been given back
// (glibc's mallinfo2: uordblks + hblkhd, over every arena), or -1 without glibc.
func CHeap() int64 { return int64(C.c_heap_in_use()) }

// GoHeap returns the bytes of live Go heap objects after a garbage collection.
func GoHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
