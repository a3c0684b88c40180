package pdm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// committedDir is the generator's directory, testdata/pdm at the repository root.
var committedDir = filepath.Join("..", "..", "testdata", "pdm")

func TestCommittedTestdataMatchesGenerator(t *testing.T) {
	files, err := Testdata()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"main.go"}
	for _, f := range files {
		want = append(want, f.Name)
		got, err := os.ReadFile(filepath.Join(committedDir, f.Name))
		if err != nil {
			t.Errorf("%v; run `make testdata`", err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("testdata/pdm/%s (%d bytes) differs from what the generator writes (%d bytes); run `make testdata`",
				f.Name, len(got), len(f.Data))
		}
	}
	entries, err := os.ReadDir(committedDir)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("files in testdata/pdm (-generated +present):\n%s", diff)
	}
}

func TestTestdataContents(t *testing.T) {
	files, err := Testdata()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Testdata()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(files, again); diff != "" {
		t.Fatalf("Testdata is not deterministic (-first +second):\n%s", diff)
	}
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Data
	}
	data := Dataset(ValidationSeed, ValidationRows)
	for _, tc := range []struct {
		name string
		want func() ([]byte, error)
	}{
		{"pdm-v1.onnx", func() ([]byte, error) { return Model(V1()) }},
		{"pdm-v2.onnx", func() ([]byte, error) { return Model(V2()) }},
		{"pdm-poor.onnx", func() ([]byte, error) { return Model(Poor()) }},
		{"pdm-wrong-shape.onnx", WrongShapeModel},
		{"not-onnx.onnx", func() ([]byte, error) { return NotONNX(), nil }},
		{"validation.csv", func() ([]byte, error) {
			var b bytes.Buffer
			err := WriteCSV(&b, data)
			return b.Bytes(), err
		}},
	} {
		want, err := tc.want()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(byName[tc.name], want) {
			t.Errorf("%s is not what its generator function returns", tc.name)
		}
	}
	for _, v := range []struct {
		label string
		w     Weights
	}{{"v1", V1()}, {"v2", V2()}} {
		var got Metadata
		if err := json.Unmarshal(byName["pdm-"+v.label+".metadata.json"], &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(MetadataFor(v.label, v.w, data), got); diff != "" {
			t.Errorf("pdm-%s.metadata.json (-want +got):\n%s", v.label, diff)
		}
	}
	if !bytes.Contains(byName["README.md"], []byte("`pdm-wrong-shape.onnx`")) {
		t.Error("README.md does not list pdm-wrong-shape.onnx")
	}
}

func TestWriteTestdata(t *testing.T) {
	dir := t.TempDir()
	if err := WriteTestdata(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	files, err := Testdata()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s: read %d bytes, %v; want the generated %d bytes", f.Name, len(got), err, len(f.Data))
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(files) {
		t.Errorf("%d entries in the output dir, want %d (no temporary files left)", len(entries), len(files))
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := WriteTestdata(ctx, t.TempDir()); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteTestdata with a canceled context: %v, want context.Canceled", err)
	}
}
