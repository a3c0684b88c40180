package registry_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	orasEmptyConfig   = blob{data: []byte("{}"), mediaType: "application/vnd.oci.empty.v1+json"}
	orasUnknownConfig = blob{data: []byte("{}"), mediaType: "application/vnd.unknown.config.v1+json"}
)

func titled(data []byte, mt types.MediaType, title string) blob {
	return blob{data: data, mediaType: mt, annotations: map[string]string{registry.AnnotationTitle: title}}
}

func TestFetchORAS(t *testing.T) {
	host := registrytest.Start(t)
	c := newClient(t)
	model := randomBytes(4, 5000)
	tests := []struct {
		name         string
		artifactType string
		config       blob
		layers       []blob
	}{
		{"oras 1.0 octet-stream", "", orasUnknownConfig,
			[]blob{titled(model, "application/octet-stream", "model.onnx")}},
		{"oras 1.1 empty config", "application/vnd.unknown.artifact.v1", orasEmptyConfig,
			[]blob{titled(model, types.OCILayer, "pdm.ONNX")}},
		{"extra non-onnx layer", "application/vnd.example+type", orasEmptyConfig,
			[]blob{titled([]byte(`{"a":1}`), "application/json", "notes.json"), titled(model, types.OCIUncompressedLayer, "model.onnx")}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := host + "/oras/model:v" + string(rune('0'+i))
			want := putManifest(t, ref, v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: tc.artifactType}, tc.config, tc.layers...)
			a, err := fetch(t, c, ref)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if a.Digest.String() != want.String() || a.Format != registry.FormatORAS || a.Config != nil || a.Dataset != nil || a.Metadata != nil {
				t.Errorf("artifact %s: format %q, config %v, dataset %v, metadata %v", a.Digest, a.Format, a.Config, a.Dataset, a.Metadata)
			}
			if !strings.HasSuffix(strings.ToLower(a.Model.Filename), ".onnx") {
				t.Errorf("model filename %q", a.Model.Filename)
			}
			rc, err := a.OpenModel(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got, err := io.ReadAll(rc); err != nil || string(got) != string(model) {
				t.Errorf("model bytes: %d, %v", len(got), err)
			}
			if _, err := a.ReadMetadata(context.Background()); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("ReadMetadata of an ORAS push: %v; want ErrNotFound", err)
			}
			if _, err := a.OpenDataset(context.Background()); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("OpenDataset of an ORAS push: %v; want ErrNotFound", err)
			}
		})
	}
}

func modelPackConfig(format string, diffIDs ...v1.Hash) blob {
	ids := make([]string, len(diffIDs))
	for i, h := range diffIDs {
		ids[i] = `"` + h.String() + `"`
	}
	return blob{
		mediaType: registry.MediaTypeModelConfig,
		data: []byte(`{"descriptor":{"name":"x"},"modelfs":{"type":"layers","diffIds":[` + strings.Join(ids, ",") +
			`]},"config":{"format":"` + format + `"}}`),
	}
}

func weight(data []byte, filepath string) blob {
	return blob{data: data, mediaType: registry.MediaTypeModelWeightRaw,
		annotations: map[string]string{registry.AnnotationFilepath: filepath}}
}

func TestFetchRejects(t *testing.T) {
	host := registrytest.Start(t)
	c := newClient(t)
	model := randomBytes(5, 2000)
	mp := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: registry.MediaTypeModelManifest}
	oras := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: "application/vnd.unknown.artifact.v1"}

	tests := []struct {
		name    string
		push    func(t *testing.T, ref string)
		client  *registry.Client
		wantErr error
	}{
		{"docker image", func(t *testing.T, ref string) { writeImage(t, ref, randomImage(t)) }, c, registry.ErrNotModel},
		{"oci image", func(t *testing.T, ref string) {
			img := mutate.ConfigMediaType(mutate.MediaType(randomImage(t), types.OCIManifestSchema1), types.OCIConfigJSON)
			writeImage(t, ref, img)
		}, c, registry.ErrNotModel},
		{"index", func(t *testing.T, ref string) {
			idx, err := random.Index(256, 1, 2)
			if err != nil {
				t.Fatal(err)
			}
			tag, _ := name.NewTag(ref)
			if err := remote.WriteIndex(tag, idx); err != nil {
				t.Fatal(err)
			}
		}, c, registry.ErrNotModel},
		{"two onnx layers", func(t *testing.T, ref string) {
			putManifest(t, ref, oras, orasEmptyConfig, titled(model, types.OCILayer, "a.onnx"), titled(randomBytes(6, 10), types.OCILayer, "b.onnx"))
		}, c, registry.ErrNotModel},
		{"no onnx layer", func(t *testing.T, ref string) {
			putManifest(t, ref, oras, orasEmptyConfig, titled(model, types.OCILayer, "model.bin"))
		}, c, registry.ErrNotModel},
		{"oras traversal", func(t *testing.T, ref string) {
			putManifest(t, ref, oras, orasEmptyConfig, titled(model, types.OCILayer, "../evil.onnx"))
		}, c, registry.ErrUnsafeFilename},
		{"modelpack traversal", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("onnx", sha(model)), weight(model, "../evil.onnx"))
		}, c, registry.ErrUnsafeFilename},
		{"modelpack subdirectory", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("onnx", sha(model)), weight(model, "weights/model.onnx"))
		}, c, registry.ErrUnsafeFilename},
		{"modelpack safe filepath, unsafe title", func(t *testing.T, ref string) {
			w := weight(model, "model.onnx")
			w.annotations[registry.AnnotationTitle] = "/etc/passwd"
			putManifest(t, ref, mp, modelPackConfig("onnx", sha(model)), w)
		}, c, registry.ErrUnsafeFilename},
		{"modelpack no filename", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("onnx", sha(model)), blob{data: model, mediaType: registry.MediaTypeModelWeightRaw})
		}, c, registry.ErrUnsafeFilename},
		{"modelpack pytorch", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("pytorch", sha(model)), weight(model, "model.pt"))
		}, c, registry.ErrNotModel},
		{"modelpack diffIds without the model", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("onnx", sha([]byte("other"))), weight(model, "model.onnx"))
		}, c, registry.ErrNotModel},
		{"modelpack two weights", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("onnx", sha(model)), weight(model, "a.onnx"), weight(randomBytes(7, 9), "b.onnx"))
		}, c, registry.ErrNotModel},
		{"modelpack tar weight", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("onnx", sha(model)),
				blob{data: model, mediaType: "application/vnd.cncf.model.weight.v1.tar", annotations: map[string]string{registry.AnnotationFilepath: "model.onnx"}})
		}, c, registry.ErrNotModel},
		{"model above WithMaxModelSize", func(t *testing.T, ref string) {
			putManifest(t, ref, mp, modelPackConfig("onnx", sha(model)), weight(model, "model.onnx"))
		}, newClient(t, registry.WithMaxModelSize(int64(len(model)-1))), registry.ErrTooLarge},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := host + "/bad/case:v" + string(rune('a'+i))
			tc.push(t, ref)
			a, err := fetch(t, tc.client, ref)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Fetch = %+v, %v; want %v", a, err, tc.wantErr)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), host+"/bad/case@sha256:") {
				t.Errorf("error %q does not name the digest reference", err)
			}
		})
	}
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}
