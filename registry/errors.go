package registry

import (
	"errors"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors. Every error this package returns that falls in one of these classes wraps
// the sentinel, so callers decide what to do (retry, alert a human) with errors.Is, never by
// matching strings.
var (
	// ErrNotFound: the tag, manifest or blob does not exist in the registry, or the
	// artifact has no layer of the requested kind.
	ErrNotFound = errors.New("not found")
	// ErrNotModel: the manifest is not a model artifact Talon can serve (a container
	// image, an index, several ONNX files without ModelPack types, a non-ONNX format).
	ErrNotModel = errors.New("not a model artifact")
	// ErrUnsafeFilename: a layer's file name annotation is not a plain base name
	// (traversal, separators, NUL, empty, too long).
	ErrUnsafeFilename = errors.New("unsafe layer file name")
	// ErrDigestMismatch: the bytes received do not hash to the digest that was asked for.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeMismatch: the registry sent fewer or more bytes than the descriptor declares.
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrTooLarge: a manifest or layer is larger than the configured limit.
	ErrTooLarge = errors.New("too large")
	// ErrInsecure: a plain-HTTP request to a host that is neither loopback nor listed
	// with WithInsecureRegistries.
	ErrInsecure = errors.New("plain HTTP not allowed")
)

// isNotFound reports whether err is a registry answer meaning "no such tag/manifest/blob".
func isNotFound(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return true
		}
	}
	return false
}
