package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// VerifyingReader is a reader that checks the bytes it returns against a digest itself,
// as the model readers of the registry package do. Its Read returns io.EOF only once
// every byte it returned, all of them, hashed to VerifiedDigest ("sha256:<hex>"); when
// the bytes differ, or there are more or fewer of them than expected, a Read returns an
// error instead, and every Read after an error returns an error too (never io.EOF).
//
// Put relies on that check instead of hashing the plaintext a second time when r
// implements VerifyingReader and VerifiedDigest equals the record's ModelDigest (or the
// record has none): the version still becomes visible only after that reader's
// verified io.EOF.
type VerifyingReader interface {
	io.Reader
	VerifiedDigest() string
}

// PutOption configures one Put.
type PutOption func(*putOptions)

type putOptions struct {
	into       []byte
	onVerified func()
}

// ReadInto makes Put read the whole stream into buf, which must be exactly as long as
// the stream, check it, call OnVerified, and only then encrypt it from buf into the
// store: the caller keeps the plaintext without a second copy, and work that needs it
// (loading it into ONNX Runtime) overlaps the encryption and the durable write. buf holds
// unverified bytes until OnVerified and must not be written to until Put returns. A
// stream of another length fails the Put.
func ReadInto(buf []byte) PutOption {
	return func(o *putOptions) { o.into = buf }
}

// OnVerified makes Put call fn, on its caller's goroutine, once the whole stream was read
// and its plaintext matched the record's ModelDigest, and before the file is fsynced and
// renamed into place (with ReadInto, before it is written): work that needs the verified
// bytes (from ReadInto), such as loading them into ONNX Runtime, can then overlap the
// durable write. The version is stored only once Put returns nil; when it fails, nothing
// became visible even though fn was called. fn is not called when no digest was checked
// (a record without ModelDigest read from a reader that is not a VerifyingReader). The
// default is none.
func OnVerified(fn func()) PutOption {
	return func(o *putOptions) { o.onVerified = fn }
}

// Put streams a model version into the store from r and records rec for it. In an
// encrypted store the bytes are encrypted to the org's current key on their way to a
// temporary file (no plaintext touches the disk). The file is fsynced and renamed into
// place only after r ended without error and the plaintext hashes to rec.ModelDigest when
// it is set; otherwise nothing changes. The plaintext is hashed here unless r checks it
// itself (VerifyingReader). It returns rec completed with Size, ModelDigest and StoredAt.
// A missing or unsafe key fails before anything is read (ErrKeyUnavailable).
func (s *Store) Put(ctx context.Context, rec Record, r io.Reader, opts ...PutOption) (Record, error) {
	var o putOptions
	for _, opt := range opts {
		opt(&o)
	}
	model, meta, err := s.versionPaths(rec.Org, rec.Version)
	if err != nil {
		return Record{}, err
	}
	dir := filepath.Dir(model)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Record{}, fmt.Errorf("store: %w", err)
	}
	unlock, err := lockOrg(ctx, dir, false)
	if err != nil {
		return Record{}, fmt.Errorf("store %s/%s: %w", rec.Org, rec.Version, err)
	}
	defer unlock()
	var rcpt age.Recipient
	if s.Encrypted() {
		keys, err := s.loadKeys(rec.Org)
		if err != nil {
			return Record{}, err
		}
		rcpt = keys.recipient
	}
	trusted := trustedDigest(r, rec.ModelDigest)
	h := sha256.New()
	var side io.Writer = h // the plaintext's hash, unless r checks it itself
	if trusted != "" {
		side = nil
	}
	var got string
	fill := func(w io.Writer) (int64, error) { return streamEncrypted(w, ctxReader{ctx, r}, rcpt, side) }
	if wt, ok := r.(io.WriterTo); ok && side == nil {
		fill = func(w io.Writer) (int64, error) { return streamEncryptedFrom(ctx, w, wt, rcpt) }
	}
	check := func(n int64) error {
		if trusted != "" {
			got = trusted // r returned io.EOF: it checked the bytes against this digest
		} else {
			got = digestString(h)
		}
		if rec.ModelDigest != "" && rec.ModelDigest != got {
			return fmt.Errorf("bytes hash to %s, expected %s", got, rec.ModelDigest)
		}
		if o.onVerified != nil && (rec.ModelDigest != "" || trusted != "") {
			o.onVerified()
		}
		return nil
	}
	var n int64
	if o.into != nil {
		n, err = putFollowed(ctx, model, ctxReader{ctx, r}, o.into, side, rcpt, check)
	} else {
		n, err = writeFile(ctx, model, fill, check, writeMode{large: true})
	}
	if err != nil {
		return Record{}, fmt.Errorf("store %s/%s: %w", rec.Org, rec.Version, err)
	}
	rec.ModelDigest, rec.Size, rec.StoredAt = got, n, time.Now().UTC()
	// The file holds exactly what was encrypted from the checked stream: a drift check
	// or backup need not read it back while it stays unchanged (checkFile).
	s.verified.remember(model, rec, !s.Encrypted(), rec.StoredAt)
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return Record{}, fmt.Errorf("store: %w", err)
	}
	if _, err := writeDurable(ctx, meta, copyFrom(strings.NewReader(string(b)+"\n")), nil); err != nil {
		return Record{}, fmt.Errorf("store %s/%s: metadata: %w", rec.Org, rec.Version, err)
	}
	return rec, nil
}

// trustedDigest returns the sha256 digest r checks its own bytes against when Put may
// rely on that check (r is a VerifyingReader of a sha256 digest that is want, or want is
// empty), and "" when Put must hash the bytes itself.
func trustedDigest(r io.Reader, want string) string {
	vr, ok := r.(VerifyingReader)
	if !ok {
		return ""
	}
	d := vr.VerifiedDigest()
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 2*sha256.Size || strings.Trim(hex, "0123456789abcdef") != "" {
		return ""
	}
	if want != "" && want != d {
		return ""
	}
	return d
}
