package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Blob describes one layer of an artifact.
type Blob struct {
	Digest    v1.Hash
	Size      int64
	MediaType types.MediaType
	// Filename is the validated base name from org.cncf.model.filepath, or else from
	// org.opencontainers.image.title. Empty only for the config blob.
	Filename string
	// Annotations are the layer descriptor's annotations.
	Annotations map[string]string
}

func (b Blob) describe() string {
	if b.Filename != "" {
		return b.Filename
	}
	return string(b.MediaType)
}

// Artifact is a fetched, digest-verified and classified model manifest. Its Open and Read
// methods stream layers by digest from the repository it came from.
type Artifact struct {
	// Digest is the reference the manifest was fetched by; its bytes hash to it.
	Digest name.Digest
	// Format is FormatModelPack or FormatORAS.
	Format Format
	// ArtifactType is the manifest's artifactType (may be empty for ORAS pushes).
	ArtifactType string
	// Annotations are the manifest's annotations.
	Annotations map[string]string
	// Model is the ONNX file.
	Model Blob
	// Dataset and Metadata are nil when the artifact has none (always, for ORAS).
	Dataset  *Blob
	Metadata *Blob
	// Config is the parsed ModelPack config; nil for ORAS.
	Config *ModelPackConfig
	// Manifest is the raw manifest, exactly the bytes that hash to Digest.
	Manifest []byte

	config Blob
	conn   *repoConn
}

// Fetch reads the manifest d by digest (at most MaxManifestSize bytes), fails closed unless
// its sha256 equals d, and classifies it: a ModelPack artifact whose config is fetched,
// verified and checked too, or a plain ORAS push of one .onnx file. Anything else is
// ErrNotModel; unsafe layer file names are ErrUnsafeFilename; layers above the size
// limits are ErrTooLarge, before any of their bytes are downloaded.
func (c *Client) Fetch(ctx context.Context, d name.Digest) (*Artifact, error) {
	want, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d, err)
	}
	if c.plainHTTPAllowed(d.Context().RegistryStr()) && d.Context().Scheme() != "http" {
		// A name.Digest built without ParseReference: apply the same insecure rule.
		insecure, err := name.NewDigest(d.String(), name.Insecure)
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", d, err)
		}
		d = insecure
	}
	conn, err := c.connect(ctx, d.Context())
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d, err)
	}
	raw, ctype, err := conn.readManifest(ctx, want)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d, err)
	}
	a, err := classify(raw, ctype)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d, err)
	}
	a.Digest, a.conn = d, conn
	if err := c.checkSizes(a); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d, err)
	}
	if a.Format == FormatModelPack {
		if err := a.readConfig(ctx); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", d, err)
		}
	}
	return a, nil
}

func (c *Client) checkSizes(a *Artifact) error {
	check := func(b *Blob, limit int64) error {
		if b != nil && b.Size > limit {
			return fmt.Errorf("layer %s (%s): %w: %d bytes, limit %d", b.Digest, b.describe(), ErrTooLarge, b.Size, limit)
		}
		return nil
	}
	if err := check(&a.Model, c.maxModelSize); err != nil {
		return err
	}
	if err := check(a.Dataset, c.maxModelSize); err != nil {
		return err
	}
	return check(a.Metadata, MaxMetadataSize)
}

// readConfig fetches, verifies and checks the ModelPack config: modelfs.type "layers", the
// model layer listed in diffIds (raw layers: DiffID = digest), format onnx.
func (a *Artifact) readConfig(ctx context.Context) error {
	data, err := a.conn.readBlob(ctx, a.config, MaxConfigSize)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var cfg ModelPackConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("%w: config %s is not a ModelPack config: %v", ErrNotModel, a.config.Digest, err)
	}
	if cfg.ModelFS.Type != "layers" {
		return fmt.Errorf("%w: config modelfs.type %q, want \"layers\"", ErrNotModel, cfg.ModelFS.Type)
	}
	listed := false
	for _, h := range cfg.ModelFS.DiffIDs {
		listed = listed || h == a.Model.Digest
	}
	if !listed {
		return fmt.Errorf("%w: config modelfs.diffIds does not list the model layer %s", ErrNotModel, a.Model.Digest)
	}
	switch f := cfg.Config.Format; {
	case strings.EqualFold(f, FormatONNX):
	case f == "" && strings.HasSuffix(strings.ToLower(a.Model.Filename), ".onnx"):
	default:
		return fmt.Errorf("%w: config.format %q, model file %q; Talon serves ONNX", ErrNotModel, f, a.Model.Filename)
	}
	a.Config = &cfg
	return nil
}

// OpenModel streams the model layer by digest. The reader returns at most Model.Size bytes,
// and its final Read fails with ErrSizeMismatch or ErrDigestMismatch instead of io.EOF if the
// registry sent other bytes (io.Copy from it returns that error, or nil when verified);
// callers must treat everything read as untrusted until then, e.g. write to a temp file.
// The reader has a method VerifiedDigest() string that returns Model.Digest, so that a
// consumer such as the store can rely on this check instead of hashing the bytes again.
func (a *Artifact) OpenModel(ctx context.Context) (io.ReadCloser, error) {
	rc, err := a.conn.openBlob(ctx, a.Model)
	if err != nil {
		return nil, fmt.Errorf("open model of %s: %w", a.Digest, err)
	}
	return rc, nil
}

// OpenDataset streams the dataset layer like OpenModel. Without one (Dataset nil) it returns
// an error wrapping ErrNotFound.
func (a *Artifact) OpenDataset(ctx context.Context) (io.ReadCloser, error) {
	if a.Dataset == nil {
		return nil, fmt.Errorf("open dataset of %s: %w: artifact has no %s layer", a.Digest, ErrNotFound, MediaTypeModelDatasetRaw)
	}
	rc, err := a.conn.openBlob(ctx, *a.Dataset)
	if err != nil {
		return nil, fmt.Errorf("open dataset of %s: %w", a.Digest, err)
	}
	return rc, nil
}

// ReadMetadata returns the verified Talon metadata JSON (at most MaxMetadataSize bytes).
// Without a metadata layer (Metadata nil) it returns an error wrapping ErrNotFound.
func (a *Artifact) ReadMetadata(ctx context.Context) ([]byte, error) {
	if a.Metadata == nil {
		return nil, fmt.Errorf("read metadata of %s: %w: artifact has no %s layer", a.Digest, ErrNotFound, MediaTypeTalonMetadata)
	}
	data, err := a.conn.readBlob(ctx, *a.Metadata, MaxMetadataSize)
	if err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", a.Digest, err)
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("read metadata of %s: %w: layer %s is not valid JSON", a.Digest, ErrNotModel, a.Metadata.Digest)
	}
	return data, nil
}
