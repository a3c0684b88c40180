package inference

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindORTLibraryExplicitMissing(t *testing.T) {
	_, err := FindORTLibrary(filepath.Join(t.TempDir(), "nope.so"))
	if !errors.Is(err, ErrORTNotFound) {
		t.Fatalf("err = %v, want ErrORTNotFound", err)
	}
	if !strings.Contains(err.Error(), "make ort") {
		t.Fatalf("error does not say how to get the library: %v", err)
	}
}

func TestFindORTLibraryOrder(t *testing.T) {
	dir := t.TempDir()
	flagLib := filepath.Join(dir, "flag.so")
	envLib := filepath.Join(dir, "env.so")
	for _, p := range []string{flagLib, envLib} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvORTLib, envLib)
	if got, err := FindORTLibrary(flagLib); err != nil || got != flagLib {
		t.Fatalf("flag first: got %q, %v", got, err)
	}
	if got, err := FindORTLibrary(""); err != nil || got != envLib {
		t.Fatalf("env second: got %q, %v", got, err)
	}
}

func TestFindORTLibraryCache(t *testing.T) {
	t.Setenv(EnvORTLib, "")
	dir := t.TempDir()
	lib := filepath.Join(dir, cacheRel)
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	got, err := FindORTLibrary("")
	if err != nil || got != lib {
		t.Fatalf("cache in a parent dir: got %q, %v", got, err)
	}
}
