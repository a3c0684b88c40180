// Package inference loads ONNX models into ONNX Runtime, keeps one serving model per
// organization with atomic hot swaps, and serves them over the Open Inference Protocol v2.
package inference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTVersion is the ONNX Runtime release Talon is built and tested against.
const ORTVersion = "1.24.1"

// EnvORTLib names the environment variable that points at libonnxruntime.so.
const EnvORTLib = "TALON_ORT_LIB"

// cacheRel is where `make ort` puts the library, relative to a Talon checkout.
var cacheRel = filepath.Join(".cache", "ort", ORTVersion, "libonnxruntime.so")

// systemLib is the name handed to dlopen when no explicit path is found, so the
// system's library path (ld.so.conf, LD_LIBRARY_PATH) is searched.
const systemLib = "libonnxruntime.so"

// ErrORTNotFound is returned (wrapped) when no ONNX Runtime library can be found.
var ErrORTNotFound = errors.New("ONNX Runtime library not found")

// FindORTLibrary returns the path of libonnxruntime.so to load. It tries, in order:
// flagPath (the --ort-lib flag), $TALON_ORT_LIB, the `make ort` cache
// (.cache/ort/<version>/libonnxruntime.so beside the executable's checkout or in the
// working directory or one of its parents), and the system's library path. An
// explicitly named path that does not exist is an error, never silently skipped.
func FindORTLibrary(flagPath string) (string, error) {
	for _, explicit := range []struct{ name, path string }{
		{"--ort-lib", flagPath}, {EnvORTLib, os.Getenv(EnvORTLib)},
	} {
		if explicit.path == "" {
			continue
		}
		if _, err := os.Stat(explicit.path); err != nil {
			return "", fmt.Errorf("%s=%s: %w (%v); %s", explicit.name, explicit.path, ErrORTNotFound, err, ortHint)
		}
		return explicit.path, nil
	}
	for _, p := range cacheCandidates() {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if systemHas(systemLib) {
		return systemLib, nil
	}
	return "", fmt.Errorf("%w: tried --ort-lib, $%s, %s and the system library path; %s",
		ErrORTNotFound, EnvORTLib, strings.Join(cacheCandidates(), ", "), ortHint)
}

const ortHint = "run `make ort` in a Talon checkout (it fetches libonnxruntime.so " + ORTVersion +
	" from the onnxruntime-node npm package and checks its sha256), or pass --ort-lib / set " +
	EnvORTLib + " to a libonnxruntime.so of version 1.24 or later"

// cacheCandidates lists the `make ort` cache locations, nearest first.
func cacheCandidates() []string {
	var out []string
	if exe, err := os.Executable(); err == nil {
		out = append(out, filepath.Join(filepath.Dir(filepath.Dir(exe)), cacheRel))
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			out = append(out, filepath.Join(dir, cacheRel))
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return out
}

// systemHas reports whether the dynamic loader's usual directories hold name.
func systemHas(name string) bool {
	dirs := filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))
	dirs = append(dirs, "/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu")
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return true
		}
	}
	return false
}

var (
	envMu   sync.Mutex
	envPath string
)

// InitRuntime loads the ONNX Runtime library at path and creates the process-wide
// environment. ONNX Runtime's environment is global to the process: the first call
// initializes it, later calls with the same path are no-ops, and a later call with a
// different path is an error.
func InitRuntime(path string) error {
	envMu.Lock()
	defer envMu.Unlock()
	if ort.IsInitialized() {
		if path != envPath {
			return fmt.Errorf("ONNX Runtime already initialized from %s, cannot switch to %s", envPath, path)
		}
		return nil
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("initialize ONNX Runtime from %s: %w", path, err)
	}
	envPath = path
	return nil
}

// RuntimeVersion reports the loaded ONNX Runtime's version ("" before InitRuntime).
func RuntimeVersion() string {
	if !ort.IsInitialized() {
		return ""
	}
	return ort.GetVersion()
}
