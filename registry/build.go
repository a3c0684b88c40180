package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PushInput is what Build packages and Push uploads.
type PushInput struct {
	// ModelPath is the ONNX file (required). Its base name becomes the layer's file name.
	ModelPath string
	// MetadataPath is an optional Talon metadata JSON object (at most MaxMetadataSize).
	MetadataPath string
	// DatasetPath is an optional validation dataset, stored as is.
	DatasetPath string
	// Name and Version go into the ModelPack config descriptor; Version also into the
	// org.opencontainers.image.version annotation. Push defaults them to the repository
	// path and the tag.
	Name, Version string
	// Created is the creation time recorded in the config and manifest. The default is now.
	// Fixing it makes Build reproducible (same files → same digest).
	Created time.Time
	// Progress, if set, is called as bytes are uploaded, with the bytes written so far and
	// the total to write (blobs already in the registry are skipped and not counted). It is
	// called from one goroutine at a time, not the caller's, and never after Push returns.
	Progress func(written, total int64)
}

// Build packages in as a CNCF ModelPack v1 image without network I/O. Layer files are
// hashed once here and streamed again from disk when pushed (never held in memory); if a
// file changes in between, the push fails with ErrDigestMismatch.
func Build(in PushInput) (v1.Image, error) {
	if in.ModelPath == "" {
		return nil, errors.New("build: no model file")
	}
	created := in.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC().Truncate(time.Second)

	model, err := newFileLayer(in.ModelPath, MediaTypeModelWeightRaw)
	if err != nil {
		return nil, fmt.Errorf("build: model: %w", err)
	}
	img := &modelImage{layers: []*fileLayer{model}}
	if in.DatasetPath != "" {
		ds, err := newFileLayer(in.DatasetPath, MediaTypeModelDatasetRaw)
		if err != nil {
			return nil, fmt.Errorf("build: dataset: %w", err)
		}
		img.layers = append(img.layers, ds)
	}
	if in.MetadataPath != "" {
		md, err := newMetadataLayer(in.MetadataPath)
		if err != nil {
			return nil, fmt.Errorf("build: metadata: %w", err)
		}
		img.layers = append(img.layers, md)
	}

	cfg := ModelPackConfig{
		Descriptor: ModelDescriptor{CreatedAt: &created, Name: in.Name, Version: in.Version},
		ModelFS:    ModelFS{Type: "layers"},
		Config:     ModelConfig{Format: FormatONNX},
	}
	for _, l := range img.layers {
		cfg.ModelFS.DiffIDs = append(cfg.ModelFS.DiffIDs, l.digest)
	}
	if img.config, err = json.Marshal(cfg); err != nil {
		return nil, fmt.Errorf("build: config: %w", err)
	}

	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  MediaTypeModelManifest,
		Config: v1.Descriptor{
			MediaType: MediaTypeModelConfig,
			Size:      int64(len(img.config)),
			Digest:    sha256Hash(img.config),
		},
		Annotations: map[string]string{AnnotationCreated: created.Format(time.RFC3339)},
	}
	if in.Version != "" {
		m.Annotations[AnnotationVersion] = in.Version
	}
	for _, l := range img.layers {
		m.Layers = append(m.Layers, v1.Descriptor{
			MediaType:   l.mediaType,
			Size:        l.size,
			Digest:      l.digest,
			Annotations: map[string]string{AnnotationFilepath: l.name, AnnotationTitle: l.name},
		})
	}
	if img.manifest, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("build: manifest: %w", err)
	}
	return partial.CompressedToImage(img)
}

func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// modelImage is a ModelPack artifact as a partial.CompressedImageCore: the manifest is
// written here (go-containerregistry's mutate package cannot set an image artifactType).
type modelImage struct {
	manifest, config []byte
	layers           []*fileLayer
}

func (i *modelImage) RawManifest() ([]byte, error)        { return i.manifest, nil }
func (i *modelImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *modelImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (i *modelImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.layers {
		if l.digest == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("%w: no layer %s", ErrNotFound, h)
}

// fileLayer is a raw layer: a file on disk (or, for metadata, bytes in memory) whose
// content is the blob as is, so its digest is also its DiffID.
type fileLayer struct {
	path      string // empty when data is set
	data      []byte
	name      string
	mediaType types.MediaType
	digest    v1.Hash
	size      int64
}

func newFileLayer(path string, mt types.MediaType) (*fileLayer, error) {
	name := filepath.Base(path)
	if err := ValidateFilename(name); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &fileLayer{path: path, name: name, mediaType: mt, size: n,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}, nil
}

func newMetadataLayer(path string) (*fileLayer, error) {
	name := filepath.Base(path)
	if err := ValidateFilename(name); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxMetadataSize {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, MaxMetadataSize)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%s: want a JSON object: %v", path, err)
	}
	return &fileLayer{data: data, name: name, mediaType: MediaTypeTalonMetadata,
		size: int64(len(data)), digest: sha256Hash(data)}, nil
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }

// Compressed streams the content, verified against the digest computed by Build.
func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	if l.path == "" {
		return io.NopCloser(bytes.NewReader(l.data)), nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	vr := newVerifiedReader(f, "file "+l.path, l.digest, l.size)
	vr.hint = " (the file changed after it was packaged)"
	return vr, nil
}
