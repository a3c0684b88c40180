package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eaglenotifier/talon/registry"
	"github.com/eaglenotifier/talon/registry/registrytest"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestPushFetchRoundTrip(t *testing.T) {
	ctx := context.Background()
	host := registrytest.Start(t)
	c := newClient(t)
	dir := t.TempDir()
	model := randomBytes(1, 300_000)
	dataset := []byte("temperature,vibration,label\n71.5,0.2,0\n96.1,1.7,1\n")
	metadata := []byte(`{"accuracy":0.93,"trainedAt":"2025-05-01","metrics":{"f1":0.9}}`)
	created := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

	var calls, lastWritten, lastTotal int64
	in := registry.PushInput{
		ModelPath:    writeFile(t, dir, "model.onnx", model),
		DatasetPath:  writeFile(t, dir, "validation.csv", dataset),
		MetadataPath: writeFile(t, dir, "metadata.json", metadata),
		Created:      created,
		Progress: func(written, total int64) {
			calls++
			lastWritten, lastTotal = written, total
		},
	}
	pushed, err := c.Push(ctx, host+"/acme/pdm:v1", in)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if !strings.HasPrefix(pushed.String(), host+"/acme/pdm@sha256:") {
		t.Errorf("Push returned %q, want %s/acme/pdm@sha256:…", pushed, host)
	}
	blobBytes := int64(len(model) + len(dataset) + len(metadata))
	if calls == 0 || lastWritten != lastTotal || lastTotal < blobBytes {
		t.Errorf("progress: %d calls, last (written %d, total %d); want final written == total ≥ %d", calls, lastWritten, lastTotal, blobBytes)
	}

	// Build is reproducible: same files and inputs, same digest as pushed.
	in.Progress, in.Name, in.Version = nil, "acme/pdm", "v1"
	img, err := registry.Build(in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if d, _ := img.Digest(); d.String() != pushed.DigestStr() {
		t.Errorf("Build digest %s, pushed %s", d, pushed.DigestStr())
	}

	resolved, err := c.Resolve(ctx, host+"/acme/pdm:v1")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if resolved.String() != pushed.String() {
		t.Errorf("Resolve = %s, want %s", resolved, pushed)
	}
	a, err := c.Fetch(ctx, resolved)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}

	// The raw manifest: exact media types, artifactType, annotations.
	var m v1.Manifest
	if err := json.Unmarshal(a.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	var rawFields map[string]json.RawMessage
	if err := json.Unmarshal(a.Manifest, &rawFields); err != nil {
		t.Fatal(err)
	}
	if got := string(rawFields["artifactType"]); got != `"application/vnd.cncf.model.manifest.v1+json"` {
		t.Errorf("raw manifest artifactType = %s", got)
	}
	type layer struct {
		MediaType   types.MediaType
		Size        int64
		Annotations map[string]string
	}
	var gotLayers []layer
	for _, l := range m.Layers {
		gotLayers = append(gotLayers, layer{l.MediaType, l.Size, l.Annotations})
	}
	wantLayers := []layer{
		{"application/vnd.cncf.model.weight.v1.raw", int64(len(model)),
			map[string]string{"org.cncf.model.filepath": "model.onnx", "org.opencontainers.image.title": "model.onnx"}},
		{"application/vnd.cncf.model.dataset.v1.raw", int64(len(dataset)),
			map[string]string{"org.cncf.model.filepath": "validation.csv", "org.opencontainers.image.title": "validation.csv"}},
		{"application/vnd.talon.model.metadata.v1+json", int64(len(metadata)),
			map[string]string{"org.cncf.model.filepath": "metadata.json", "org.opencontainers.image.title": "metadata.json"}},
	}
	if diff := cmp.Diff(wantLayers, gotLayers); diff != "" {
		t.Errorf("layers (-want +got):\n%s", diff)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.cncf.model.config.v1+json" {
		t.Errorf("manifest media type %q, config media type %q", m.MediaType, m.Config.MediaType)
	}
	wantAnn := map[string]string{"org.opencontainers.image.created": "2025-05-01T12:00:00Z", "org.opencontainers.image.version": "v1"}
	if diff := cmp.Diff(wantAnn, a.Annotations); diff != "" {
		t.Errorf("manifest annotations (-want +got):\n%s", diff)
	}

	// The classified artifact and its ModelPack config.
	if a.Format != registry.FormatModelPack || a.Model.Filename != "model.onnx" || a.Dataset == nil || a.Metadata == nil {
		t.Fatalf("artifact: format %q, model %q, dataset %v, metadata %v", a.Format, a.Model.Filename, a.Dataset, a.Metadata)
	}
	if a.Config == nil {
		t.Fatal("no ModelPack config")
	}
	wantCfg := registry.ModelPackConfig{
		Descriptor: registry.ModelDescriptor{CreatedAt: &created, Name: "acme/pdm", Version: "v1"},
		ModelFS:    registry.ModelFS{Type: "layers", DiffIDs: []v1.Hash{m.Layers[0].Digest, m.Layers[1].Digest, m.Layers[2].Digest}},
		Config:     registry.ModelConfig{Format: "onnx"},
	}
	if diff := cmp.Diff(wantCfg, *a.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	// Layer bytes, streamed and verified.
	for _, tc := range []struct {
		name string
		open func(context.Context) (io.ReadCloser, error)
		want []byte
	}{
		{"model", a.OpenModel, model},
		{"dataset", a.OpenDataset, dataset},
	} {
		rc, err := tc.open(ctx)
		if err != nil {
			t.Fatalf("open %s: %v", tc.name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(tc.want) {
			t.Errorf("%s: %d bytes, err %v; want %d bytes equal to the pushed file", tc.name, len(got), err, len(tc.want))
		}
	}
	gotMeta, err := a.ReadMetadata(ctx)
	if err != nil || string(gotMeta) != string(metadata) {
		t.Errorf("ReadMetadata = %q, %v; want %q", gotMeta, err, metadata)
	}
}

// A digest reference resolves to itself without asking any registry (port 1 is closed).
func TestResolveDigestNoNetwork(t *testing.T) {
	ref := "127.0.0.1:1/acme/pdm@sha256:" + strings.Repeat("ab", 32)
	d, err := newClient(t).Resolve(context.Background(), ref)
	if err != nil || d.String() != ref {
		t.Fatalf("Resolve(%s) = %v, %v", ref, d, err)
	}
}

func TestResolveNotFound(t *testing.T) {
	host := registrytest.Start(t)
	c := newClient(t)
	dir := t.TempDir()
	if _, err := c.Push(context.Background(), host+"/acme/pdm:v1", registry.PushInput{ModelPath: writeFile(t, dir, "m.onnx", []byte("onnx"))}); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{host + "/acme/pdm:v9", host + "/nobody/here:v1"} {
		t.Run(ref, func(t *testing.T) {
			_, err := c.Resolve(context.Background(), ref)
			if !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), ref) {
				t.Errorf("Resolve(%s) error = %v; want ErrNotFound naming the reference", ref, err)
			}
		})
	}
}

// A file that changes between Build and the upload fails the push loudly.
func TestPushFileChangedAfterBuild(t *testing.T) {
	host := registrytest.Start(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "model.onnx", randomBytes(2, 4096))
	img, err := registry.Build(registry.PushInput{ModelPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, randomBytes(3, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	client := newClient(t)
	ref, _ := client.ParseReference(host + "/acme/pdm:v1")
	err = remote.Write(ref, img)
	// Talon's reader fails the upload with the file's last bytes, before the HTTP client
	// has sent them: the registry never gets the whole of a changed file to refuse.
	if !errors.Is(err, registry.ErrDigestMismatch) {
		t.Errorf("push of a changed file: %v; want ErrDigestMismatch", err)
	}
	if d, err := client.Resolve(context.Background(), host+"/acme/pdm:v1"); err == nil {
		t.Errorf("the changed file was pushed anyway: v1 resolves to %s", d)
	}
}

// TestChangedFileFailsBeforeItsLastBytes: a consumer that reads a layer's declared size
// and no further (as an HTTP client sending a body of that Content-Length does) gets the
// digest mismatch from that read, not the bytes: the registry can never receive the
// whole of a file that changed after Build.
func TestChangedFileFailsBeforeItsLastBytes(t *testing.T) {
	for _, size := range []int{4096, 3 << 20} {
		path := writeFile(t, t.TempDir(), "model.onnx", randomBytes(4, size))
		img, err := registry.Build(registry.PushInput{ModelPath: path})
		if err != nil {
			t.Fatal(err)
		}
		changed := randomBytes(4, size)
		changed[size-1] ^= 1 // only the very last byte differs
		if err := os.WriteFile(path, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layers[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.ReadFull(rc, make([]byte, size))
		rc.Close()
		if !errors.Is(err, registry.ErrDigestMismatch) || n == size {
			t.Errorf("%d bytes: reading the declared size of a changed file = %d bytes, %v; want ErrDigestMismatch before the last bytes", size, n, err)
		}
	}
}

func TestPushNeedsTag(t *testing.T) {
	dir := t.TempDir()
	in := registry.PushInput{ModelPath: writeFile(t, dir, "m.onnx", []byte("x"))}
	_, err := newClient(t).Push(context.Background(), "127.0.0.1:1/a/b@sha256:"+strings.Repeat("00", 32), in)
	if err == nil || !strings.Contains(err.Error(), "want a tag") {
		t.Errorf("Push to a digest: %v", err)
	}
}

func TestBuildRejects(t *testing.T) {
	dir := t.TempDir()
	model := writeFile(t, dir, "model.onnx", []byte("onnx"))
	tests := map[string]registry.PushInput{
		"no model":            {},
		"missing model":       {ModelPath: dir + "/absent.onnx"},
		"model is a dir":      {ModelPath: dir},
		"metadata not JSON":   {ModelPath: model, MetadataPath: writeFile(t, dir, "a.json", []byte("accuracy=0.9"))},
		"metadata null":       {ModelPath: model, MetadataPath: writeFile(t, dir, "b.json", []byte("null"))},
		"metadata array":      {ModelPath: model, MetadataPath: writeFile(t, dir, "c.json", []byte("[1,2]"))},
		"metadata too large":  {ModelPath: model, MetadataPath: writeFile(t, dir, "d.json", []byte(`{"x":"`+strings.Repeat("a", registry.MaxMetadataSize)+`"}`))},
		"missing dataset":     {ModelPath: model, DatasetPath: dir + "/absent.csv"},
		"missing metadata":    {ModelPath: model, MetadataPath: dir + "/absent.json"},
		"unsafe base name ..": {ModelPath: writeFile(t, dir, "a..onnx", []byte("onnx"))},
	}
	for name, in := range tests {
		if _, err := registry.Build(in); err == nil {
			t.Errorf("Build with %s: no error", name)
		}
	}
}
