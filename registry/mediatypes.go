package registry

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotations of CNCF ModelPack v1, plus Talon's metadata layer.
const (
	// MediaTypeModelManifest is the manifest artifactType of a ModelPack artifact.
	MediaTypeModelManifest = "application/vnd.cncf.model.manifest.v1+json"
	// MediaTypeModelConfig is the config blob media type of a ModelPack artifact.
	MediaTypeModelConfig types.MediaType = "application/vnd.cncf.model.config.v1+json"
	// MediaTypeModelWeightRaw is the media type of an uncompressed weight file (the .onnx).
	MediaTypeModelWeightRaw types.MediaType = "application/vnd.cncf.model.weight.v1.raw"
	// MediaTypeModelDatasetRaw is the media type of an uncompressed dataset file.
	MediaTypeModelDatasetRaw types.MediaType = "application/vnd.cncf.model.dataset.v1.raw"
	// MediaTypeTalonMetadata is the media type of Talon's metadata JSON layer (accuracy,
	// training date, I/O schema, metrics).
	MediaTypeTalonMetadata types.MediaType = "application/vnd.talon.model.metadata.v1+json"

	// AnnotationFilepath is ModelPack's layer annotation naming the file.
	AnnotationFilepath = "org.cncf.model.filepath"
	// AnnotationTitle is the OCI layer annotation naming the file (what oras uses).
	AnnotationTitle = "org.opencontainers.image.title"
	// AnnotationCreated and AnnotationVersion are the OCI manifest annotations Push sets.
	AnnotationCreated = "org.opencontainers.image.created"
	AnnotationVersion = "org.opencontainers.image.version"

	// FormatONNX is the ModelPack config.format value for ONNX models.
	FormatONNX = "onnx"
)

// Format tells how an artifact was packaged.
type Format string

const (
	// FormatModelPack is a CNCF ModelPack v1 artifact (what Push writes).
	FormatModelPack Format = "modelpack"
	// FormatORAS is a plain ORAS push of one .onnx file.
	FormatORAS Format = "oras"
)

// ModelPackConfig is the JSON of a ModelPack config blob (MediaTypeModelConfig).
type ModelPackConfig struct {
	Descriptor ModelDescriptor `json:"descriptor"`
	ModelFS    ModelFS         `json:"modelfs"`
	Config     ModelConfig     `json:"config"`
}

// ModelDescriptor is the "descriptor" object of a ModelPack config.
type ModelDescriptor struct {
	CreatedAt   *time.Time `json:"createdAt,omitempty"`
	Authors     []string   `json:"authors,omitempty"`
	Vendor      string     `json:"vendor,omitempty"`
	Family      string     `json:"family,omitempty"`
	Name        string     `json:"name,omitempty"`
	Version     string     `json:"version,omitempty"`
	Title       string     `json:"title,omitempty"`
	Description string     `json:"description,omitempty"`
	DocURL      string     `json:"docURL,omitempty"`
	SourceURL   string     `json:"sourceURL,omitempty"`
	Revision    string     `json:"revision,omitempty"`
	Licenses    []string   `json:"licenses,omitempty"`
}

// ModelFS is the "modelfs" object of a ModelPack config: the layers' uncompressed digests,
// in manifest order. For .raw layers a DiffID equals the layer digest.
type ModelFS struct {
	Type    string    `json:"type"`
	DiffIDs []v1.Hash `json:"diffIds"`
}

// ModelConfig is the "config" object of a ModelPack config.
type ModelConfig struct {
	Architecture string `json:"architecture,omitempty"`
	Format       string `json:"format,omitempty"`
	ParamSize    string `json:"paramSize,omitempty"`
	Precision    string `json:"precision,omitempty"`
	Quantization string `json:"quantization,omitempty"`
}
