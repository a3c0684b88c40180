package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// verifiedReader streams exactly size bytes and, at EOF, fails unless they hash to want.
// It never reads past size: if the server has more to send, that is an ErrSizeMismatch;
// if it has less, too. Errors are sticky.
type verifiedReader struct {
	body io.ReadCloser
	what string // "blob sha256:… (model.onnx) from host/repo", for errors
	want v1.Hash
	size int64
	n    int64
	h    hash.Hash
	// hashed: the body writes what it returns into h itself (readahead), so Read does not
	hashed bool
	hint   string // appended to a digest mismatch: what it most likely means
	err    error
	// matched: the digest was compared, and matched, when the last declared byte arrived
	matched bool
}

func newVerifiedReader(body io.ReadCloser, what string, want v1.Hash, size int64) *verifiedReader {
	return &verifiedReader{body: body, what: what, want: want, size: size, h: sha256.New()}
}

// Read implements io.Reader.
func (v *verifiedReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.n == v.size {
		v.err = v.finish(true)
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rest := v.size - v.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	m, err := v.body.Read(p)
	if !v.hashed {
		v.h.Write(p[:m])
	}
	v.n += int64(m)
	if v.n == v.size && m > 0 {
		// The last declared byte is in: compare the digest before handing these bytes
		// over, so that a consumer that stops at the declared size (an HTTP client
		// sending a body of that Content-Length) never passes on the whole of a stream
		// that does not match. The end of the body is still checked at EOF.
		if derr := v.digestErr(); derr != nil {
			v.err = derr
			return 0, derr
		}
		v.matched = true
	}
	return m, v.after(err)
}

// after records the error the body's last read returned, once v.n counts the bytes it
// gave: at the body's end, the size and digest checks. It returns v.err.
func (v *verifiedReader) after(err error) error {
	switch {
	case err == io.EOF && v.n < v.size:
		v.err = fmt.Errorf("%s: %w: got %d bytes, want %d", v.what, ErrSizeMismatch, v.n, v.size)
	case err == io.EOF:
		v.err = v.finish(false)
	case err != nil:
		v.err = fmt.Errorf("%s: after %d of %d bytes: %w", v.what, v.n, v.size, err)
	}
	return v.err
}

// finish runs once all size bytes have been read: it makes sure the server has nothing
// more to send (unless it already said EOF) and compares the digest. It returns io.EOF
// when everything checks out.
func (v *verifiedReader) finish(probe bool) error {
	if probe {
		var one [1]byte
		m, err := io.ReadAtLeast(v.body, one[:], 1)
		if m > 0 {
			return fmt.Errorf("%s: %w: registry sent more than the declared %d bytes", v.what, ErrSizeMismatch, v.size)
		}
		if err != io.EOF {
			return fmt.Errorf("%s: after %d bytes: %w", v.what, v.n, err)
		}
	}
	if !v.matched {
		if err := v.digestErr(); err != nil {
			return err
		}
	}
	return io.EOF
}

// digestErr compares the digest of the bytes read so far with the one wanted.
func (v *verifiedReader) digestErr() error {
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(v.h.Sum(nil))}
	if got != v.want {
		return fmt.Errorf("%s: %w: got %s, want %s%s", v.what, ErrDigestMismatch, got, v.want, v.hint)
	}
	return nil
}

// Close implements io.Closer.
func (v *verifiedReader) Close() error { return v.body.Close() }

// VerifiedDigest returns the digest ("sha256:<hex>") the reader checks its bytes against:
// its Read returns io.EOF only after exactly the declared number of bytes, hashing to
// this digest, was read, and once a Read failed every later Read fails too. A consumer
// that needs the bytes checked (the store) may rely on that instead of hashing again.
func (v *verifiedReader) VerifiedDigest() string { return v.want.String() }

// open GETs a manifest or blob by digest; the caller verifies the body and closes it.
func (rc *repoConn) open(ctx context.Context, kind string, want v1.Hash, accept, what string) (*http.Response, error) {
	if want.Algorithm != "sha256" {
		return nil, fmt.Errorf("%s: %w: unsupported digest algorithm %q", what, ErrDigestMismatch, want.Algorithm)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rc.url(kind, want.String()), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := rc.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %w: %v", what, ErrNotFound, err)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return resp, nil
}

// openBlob streams the blob b by digest, verified (see verifiedReader).
func (rc *repoConn) openBlob(ctx context.Context, b Blob) (io.ReadCloser, error) {
	what := fmt.Sprintf("blob %s (%s) from %s", b.Digest, b.describe(), rc.repo)
	resp, err := rc.open(ctx, "blobs", b.Digest, "", what)
	if err != nil {
		return nil, err
	}
	if cl := resp.ContentLength; cl >= 0 && cl != b.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w: Content-Length %d, manifest declares %d", what, ErrSizeMismatch, cl, b.Size)
	}
	vr := newVerifiedReader(resp.Body, what, b.Digest, b.Size)
	if b.Size >= readaheadMin {
		// One byte more than the size: finish's probe for extra bytes.
		vr.body, vr.hashed = newReadahead(resp.Body, b.Size+1, vr.h, b.Size), true
	}
	vr.hint = " (the registry served corrupted or substituted content)"
	return vr, nil
}

// readManifest GETs the manifest want by digest, reading at most MaxManifestSize bytes, and
// fails closed unless the bytes hash to want. It returns the bytes and the Content-Type.
func (rc *repoConn) readManifest(ctx context.Context, want v1.Hash) ([]byte, string, error) {
	what := fmt.Sprintf("manifest %s@%s", rc.repo, want)
	resp, err := rc.open(ctx, "manifests", want, manifestAccept, what)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxManifestSize {
		return nil, "", fmt.Errorf("%s: %w: %d bytes, limit %d", what, ErrTooLarge, resp.ContentLength, MaxManifestSize)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	if len(raw) > MaxManifestSize {
		return nil, "", fmt.Errorf("%s: %w: more than %d bytes", what, ErrTooLarge, MaxManifestSize)
	}
	sum := sha256.Sum256(raw)
	if got := (v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}); got != want {
		return nil, "", fmt.Errorf("%s: %w: got %s (the registry served a different manifest)", what, ErrDigestMismatch, got)
	}
	return raw, resp.Header.Get("Content-Type"), nil
}

// readBlob reads a small blob (config, metadata) fully, verified.
func (rc *repoConn) readBlob(ctx context.Context, b Blob, limit int64) ([]byte, error) {
	if b.Size > limit {
		return nil, fmt.Errorf("blob %s (%s) from %s: %w: %d bytes, limit %d", b.Digest, b.describe(), rc.repo, ErrTooLarge, b.Size, limit)
	}
	rd, err := rc.openBlob(ctx, b)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd) // the verified reader's io.EOF means "all checks passed"
}

// copyBufferSize is the buffer WriteTo uses: large reads and writes cut syscalls.
const copyBufferSize = 1 << 20

// WriteTo implements io.WriterTo, so io.Copy from a verified reader uses large buffers.
// Bytes reach w only as they are read; the final error (or nil) is the verification result.
func (v *verifiedReader) WriteTo(w io.Writer) (int64, error) {
	if ra, ok := v.body.(*readahead); ok {
		return v.writeLent(w, ra)
	}
	buf := make([]byte, copyBufferSize)
	var total int64
	for {
		n, rerr := v.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if m != n {
				return total, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// writeLent is WriteTo from a read-ahead body: it hands w the read-ahead's own buffers,
// with the same checks as Read (it never passes more than size bytes; the final result
// is the verification's), and without copying the bytes first. (w must not keep the
// slices it is given, as io.Writer requires.)
func (v *verifiedReader) writeLent(w io.Writer, ra *readahead) (int64, error) {
	var total int64
	for {
		if v.err != nil {
			if v.err == io.EOF {
				return total, nil
			}
			return total, v.err
		}
		if v.n == v.size {
			v.err = v.finish(true)
			continue
		}
		b, err := ra.lend(v.size - v.n)
		v.n += int64(len(b))
		if err := v.after(err); err != nil && err != io.EOF {
			return total, err
		}
		if len(b) > 0 {
			m, werr := w.Write(b)
			total += int64(m)
			if werr == nil && m != len(b) {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return total, werr
			}
		}
	}
}
