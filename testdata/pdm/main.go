// Command pdm writes Talon's predictive-maintenance test fixtures (models, metadata,
// validation set and a README listing them) with package examples/pdm. Run it from
// the repository root as `go run ./testdata/pdm` or `make testdata`; -out chooses the
// directory, by default the one holding this program's source (testdata/pdm).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"

	"github.com/eaglenotifier/talon/examples/pdm"
)

func main() {
	out := flag.String("out", defaultDir(), "directory to write the fixtures into")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "pdm:", err)
		os.Exit(1)
	}
	if err := pdm.WriteTestdata(ctx, *out); err != nil {
		fmt.Fprintln(os.Stderr, "pdm:", err)
		os.Exit(1)
	}
	fmt.Println("wrote test fixtures to", *out)
}

// defaultDir is the directory of this source file when it is known (go run, go build
// without -trimpath), else testdata/pdm relative to the working directory.
func defaultDir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Dir(file)
	}
	return filepath.Join("testdata", "pdm")
}
