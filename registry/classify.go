package registry

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// manifestAccept is the Accept header of manifest fetches: everything, so that a non-model
// answer is classified (ErrNotModel) rather than refused by content negotiation.
var manifestAccept = strings.Join([]string{
	string(types.OCIManifestSchema1), string(types.OCIImageIndex),
	string(types.DockerManifestSchema2), string(types.DockerManifestList),
}, ",")

// maxFilenameBytes is the longest layer file name accepted (a common file system limit).
const maxFilenameBytes = 255

// ValidateFilename accepts a layer's file name annotation only if it is a plain base name:
// non-empty, at most 255 bytes, no '/' or '\', no NUL or other control character, not "."
// and no "..". Anything else could escape the directory the file is written to.
func ValidateFilename(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty", ErrUnsafeFilename)
	case len(s) > maxFilenameBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrUnsafeFilename, len(s), maxFilenameBytes)
	case strings.ContainsAny(s, "/\\\x00"):
		return fmt.Errorf("%w: %q contains a path separator or NUL", ErrUnsafeFilename, s)
	case s == "." || strings.Contains(s, ".."):
		return fmt.Errorf("%w: %q is \".\" or contains \"..\"", ErrUnsafeFilename, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q contains a control character", ErrUnsafeFilename, s)
		}
	}
	return nil
}

// manifest is the part of an OCI/Docker manifest or index the classifier reads.
type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     types.MediaType   `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        v1.Descriptor     `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []json.RawMessage `json:"manifests"`
	Annotations   map[string]string `json:"annotations"`
}

// classify decides what a verified manifest is. It is pure: no I/O.
func classify(raw []byte, contentType string) (*Artifact, error) {
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest is not valid JSON: %v", ErrNotModel, err)
	}
	mt := m.MediaType
	if mt == "" {
		ct, _, _ := mime.ParseMediaType(contentType)
		mt = types.MediaType(ct)
	}
	switch {
	case mt.IsIndex() || len(m.Manifests) > 0:
		return nil, fmt.Errorf("%w: it is an image index (%s), not a single model manifest", ErrNotModel, mt)
	case mt == types.DockerManifestSchema2 || mt == types.DockerManifestSchema1 || mt == types.DockerManifestSchema1Signed:
		return nil, fmt.Errorf("%w: it is a Docker container image manifest (%s), not a model artifact", ErrNotModel, mt)
	case mt != types.OCIManifestSchema1:
		return nil, fmt.Errorf("%w: manifest media type %q, want %q", ErrNotModel, mt, types.OCIManifestSchema1)
	case m.SchemaVersion != 2:
		return nil, fmt.Errorf("%w: schemaVersion %d, want 2", ErrNotModel, m.SchemaVersion)
	}
	for i, l := range m.Layers {
		if l.Digest.Algorithm != "sha256" || l.Size < 0 {
			return nil, fmt.Errorf("%w: layer %d has digest %q and size %d", ErrNotModel, i, l.Digest, l.Size)
		}
	}
	a := &Artifact{ArtifactType: m.ArtifactType, Annotations: m.Annotations, Manifest: raw}
	var err error
	if m.ArtifactType == MediaTypeModelManifest || m.Config.MediaType == MediaTypeModelConfig {
		err = classifyModelPack(a, &m)
	} else {
		err = classifyORAS(a, &m)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

func classifyModelPack(a *Artifact, m *manifest) error {
	a.Format = FormatModelPack
	if m.Config.MediaType != MediaTypeModelConfig {
		return fmt.Errorf("%w: ModelPack manifest with config media type %q, want %q", ErrNotModel, m.Config.MediaType, MediaTypeModelConfig)
	}
	if m.Config.Digest.Algorithm != "sha256" {
		return fmt.Errorf("%w: config digest %q is not sha256", ErrNotModel, m.Config.Digest)
	}
	a.config = Blob{Digest: m.Config.Digest, Size: m.Config.Size, MediaType: m.Config.MediaType}
	var weights, datasets, metas []Blob
	var other []string
	for _, l := range m.Layers {
		switch {
		case l.MediaType == MediaTypeModelWeightRaw:
			weights = append(weights, layerBlob(l))
		case l.MediaType == MediaTypeModelDatasetRaw:
			datasets = append(datasets, layerBlob(l))
		case l.MediaType == MediaTypeTalonMetadata:
			metas = append(metas, layerBlob(l))
		case strings.HasPrefix(string(l.MediaType), "application/vnd.cncf.model.weight.v1."):
			other = append(other, string(l.MediaType))
		}
	}
	if len(weights) != 1 {
		return fmt.Errorf("%w: ModelPack artifact has %d %s layers (other weight layers: %v); Talon serves exactly one raw ONNX file",
			ErrNotModel, len(weights), MediaTypeModelWeightRaw, other)
	}
	if len(datasets) > 1 || len(metas) > 1 {
		return fmt.Errorf("%w: %d dataset and %d metadata layers; at most one of each", ErrNotModel, len(datasets), len(metas))
	}
	a.Model = weights[0]
	if len(datasets) == 1 {
		a.Dataset = &datasets[0]
	}
	if len(metas) == 1 {
		a.Metadata = &metas[0]
	}
	for _, b := range []*Blob{&a.Model, a.Dataset, a.Metadata} {
		if b == nil {
			continue
		}
		if err := b.checkNames(); err != nil {
			return err
		}
	}
	return nil
}

func classifyORAS(a *Artifact, m *manifest) error {
	a.Format = FormatORAS
	var onnx []Blob
	for _, l := range m.Layers {
		if strings.HasSuffix(strings.ToLower(l.Annotations[AnnotationTitle]), ".onnx") {
			onnx = append(onnx, layerBlob(l))
		}
	}
	switch {
	case len(onnx) == 0 && (m.Config.MediaType == types.OCIConfigJSON || m.Config.MediaType == types.DockerConfigJSON):
		return fmt.Errorf("%w: it is a container image (config %s), not a ModelPack artifact or an ORAS push of one .onnx file",
			ErrNotModel, m.Config.MediaType)
	case len(onnx) != 1:
		return fmt.Errorf("%w: artifactType %q with %d layers titled *.onnx; want a ModelPack artifact (%s) or exactly one .onnx layer",
			ErrNotModel, m.ArtifactType, len(onnx), MediaTypeModelManifest)
	}
	a.Model = onnx[0]
	return a.Model.checkNames()
}

func layerBlob(l v1.Descriptor) Blob {
	name := l.Annotations[AnnotationFilepath]
	if name == "" {
		name = l.Annotations[AnnotationTitle]
	}
	return Blob{Digest: l.Digest, Size: l.Size, MediaType: l.MediaType, Filename: name, Annotations: l.Annotations}
}

// checkNames validates every file name annotation the layer carries, not only the one used.
func (b *Blob) checkNames() error {
	if b.Filename == "" {
		return fmt.Errorf("layer %s (%s): %w: no %s or %s annotation", b.Digest, b.MediaType, ErrUnsafeFilename, AnnotationFilepath, AnnotationTitle)
	}
	for _, k := range []string{AnnotationFilepath, AnnotationTitle} {
		if v, ok := b.Annotations[k]; ok {
			if err := ValidateFilename(v); err != nil {
				return fmt.Errorf("layer %s annotation %s: %w", b.Digest, k, err)
			}
		}
	}
	return nil
}
