package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// This file holds the primitives that signature code (registry/cosign) builds on: an
// authenticated session to one repository that reads small manifests by tag and small blobs
// by digest, and whole-image reads and writes for appending to a signature manifest.

// Repository is an authenticated pull session to one repository, for reading small
// manifests by tag (such as cosign's "sha256-<hex>.sig") and the small blobs they list.
// Reusing it saves the registry ping and token exchange of each new session. It is safe for
// concurrent use. Get one with Client.OpenRepository.
type Repository struct {
	conn *repoConn
}

// TaggedManifest is a manifest read by tag: its bytes and the sha256 of those bytes.
type TaggedManifest struct {
	// Tag is the reference the manifest was read by.
	Tag name.Tag
	// Digest is the sha256 of Raw (computed here, not taken from the registry).
	Digest v1.Hash
	// MediaType is the Content-Type the registry answered with.
	MediaType string
	// Raw is the manifest, at most MaxManifestSize bytes.
	Raw []byte
}

// OpenRepository authenticates to repo for pulling (credentials from the keychain, then the
// registry's challenge). Plain HTTP is used only where ParseReference would allow it.
func (c *Client) OpenRepository(ctx context.Context, repo name.Repository) (*Repository, error) {
	repo, err := c.withScheme(repo)
	if err != nil {
		return nil, err
	}
	conn, err := c.connect(ctx, repo)
	if err != nil {
		return nil, err
	}
	return &Repository{conn: conn}, nil
}

// Name returns the repository this session reads.
func (r *Repository) Name() name.Repository { return r.conn.repo }

// ReadTaggedManifest GETs the manifest tagged tag, reading at most MaxManifestSize bytes
// (ErrTooLarge beyond). A missing tag is an error wrapping ErrNotFound. If the registry
// names the manifest's digest (Docker-Content-Digest) and the bytes hash to something else,
// the error wraps ErrDigestMismatch. Nothing else vouches for bytes read by tag: callers
// must verify what they contain (signatures do).
func (r *Repository) ReadTaggedManifest(ctx context.Context, tag string) (*TaggedManifest, error) {
	t := r.conn.repo.Tag(tag)
	what := "manifest " + t.String()
	if _, err := name.NewTag(t.String(), name.StrictValidation); err != nil {
		return nil, fmt.Errorf("%s: invalid tag %q: %w", what, tag, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.conn.url("manifests", tag), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Accept", manifestAccept)
	resp, err := r.conn.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %w: %v", what, ErrNotFound, err)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if resp.ContentLength > MaxManifestSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, limit %d", what, ErrTooLarge, resp.ContentLength, MaxManifestSize)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(raw) > MaxManifestSize {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", what, ErrTooLarge, MaxManifestSize)
	}
	sum := sha256.Sum256(raw)
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != got.String() {
		return nil, fmt.Errorf("%s: %w: the registry says %s, the bytes hash to %s", what, ErrDigestMismatch, h, got)
	}
	return &TaggedManifest{Tag: t, Digest: got, MediaType: resp.Header.Get("Content-Type"), Raw: raw}, nil
}

// ReadBlob reads the blob d, which its manifest declares to be size bytes, fully into
// memory. A size above limit is ErrTooLarge before any byte is read; other bytes than
// declared are ErrSizeMismatch or ErrDigestMismatch; a missing blob wraps ErrNotFound.
func (r *Repository) ReadBlob(ctx context.Context, d v1.Hash, size, limit int64) ([]byte, error) {
	if size < 0 {
		return nil, fmt.Errorf("blob %s from %s: %w: negative size %d", d, r.conn.repo, ErrSizeMismatch, size)
	}
	return r.conn.readBlob(ctx, Blob{Digest: d, Size: size}, limit)
}

// ReadImage returns the image manifest d (fetched now and checked against d by
// go-containerregistry); its config and layers are fetched when read. It is meant for
// small images that are rewritten, such as a signature manifest being appended to.
func (c *Client) ReadImage(ctx context.Context, d name.Digest) (v1.Image, error) {
	repo, err := c.withScheme(d.Context())
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(repo.Digest(d.DigestStr()), c.remoteOptions(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("read image %s: %w: %v", d, ErrNotFound, err)
		}
		return nil, fmt.Errorf("read image %s: %w", d, err)
	}
	return img, nil
}

// WriteImage uploads img's blobs (skipping those the repository has) and manifest, tags it
// tag, and returns the digest it was written as.
func (c *Client) WriteImage(ctx context.Context, tag name.Tag, img v1.Image) (name.Digest, error) {
	repo, err := c.withScheme(tag.Context())
	if err != nil {
		return name.Digest{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("write %s: %w", tag, err)
	}
	if err := remote.Write(repo.Tag(tag.TagStr()), img, c.remoteOptions(ctx)...); err != nil {
		return name.Digest{}, fmt.Errorf("write %s: %w", tag, err)
	}
	return repo.Digest(d.String()), nil
}

// withScheme marks repo insecure (plain HTTP) when the Client allows plain HTTP to its
// host, as ParseReference does, so that names built elsewhere behave the same.
func (c *Client) withScheme(repo name.Repository) (name.Repository, error) {
	if !c.plainHTTPAllowed(repo.RegistryStr()) || repo.Scheme() == "http" {
		return repo, nil
	}
	r, err := name.NewRepository(repo.Name(), name.Insecure)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %s: %w", repo, err)
	}
	return r, nil
}
