// Package ortest gives tests the third-party ONNX models that ship in the
// onnxruntime_go module's test_data directory.
package ortest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Module is the module whose test_data directory holds the models.
const Module = "github.com/yalue/onnxruntime_go"

var moduleDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Module).Output()
	return strings.TrimSpace(string(out)), err
})

// Path returns the path of test_data/name in the onnxruntime_go module, failing
// tb if the module cannot be found.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := moduleDir()
	if err != nil || dir == "" {
		tb.Fatalf("locate module %s with `go list -m`: %v", Module, err)
	}
	return filepath.Join(dir, "test_data", name)
}

// Model returns the bytes of test_data/name in the onnxruntime_go module.
func Model(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
