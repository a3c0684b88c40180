package pipelog_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/eaglenotifier/talon/reconciler/pipelog"
)

// BenchmarkRun logs one seven-stage run and ends it (with its fsync); compare with
// BenchmarkBaselineAppendFsync, the same number of appends and one fsync by hand.
func BenchmarkRun(b *testing.B) {
	l, _ := pipelog.Open(b.TempDir())
	for b.Loop() {
		run, _ := l.Start("acme", "3f2a1c9d0b7e4a5f8c6d2e1b0a9f8e7d6c5b4a39")
		for _, s := range stages {
			run.Stage(s).Done(nil, slog.String("digest", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"), slog.Int("bytes", 315))
		}
		if err := run.End(errors.New("x")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBaselineAppendFsync(b *testing.B) {
	line := []byte(`{"time":"2026-03-02T10:15:19.2Z","org":"acme","run":"20260302T101518Z-4f1a9c","commit":"3f2a1c9d0b7e4a5f8c6d2e1b0a9f8e7d6c5b4a39","stage":"pull","result":"ok","start":"2026-03-02T10:15:18.9Z","durationMs":312.5,"attrs":{"digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","bytes":315}}` + "\n")
	path := filepath.Join(b.TempDir(), "log.jsonl")
	for b.Loop() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		for range len(stages) + 1 {
			f.Write(line)
		}
		f.Sync()
		f.Close()
	}
}
