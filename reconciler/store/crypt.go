package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	"filippo.io/age"
)

// copyBuf is the streaming buffer size: one age chunk.
const copyBuf = 64 << 10

func corrupt(path, format string, args ...any) error {
	return fmt.Errorf("store: %s: %s: %w", path, fmt.Sprintf(format, args...), ErrCorrupt)
}

func digestString(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// readModelFile returns the plaintext of path checked against rec: read as is when
// plaintext, else decrypted in memory with org's identities. The key file is read before
// the model file, and read again once if no identity matched, so a rotation finishing
// between the two reads is not mistaken for corruption.
func (s *Store) readModelFile(org, path string, rec Record, plaintext bool) ([]byte, error) {
	if plaintext {
		return readChecked(path, rec, nil)
	}
	for attempt := 0; ; attempt++ {
		keys, err := s.loadKeys(org)
		if err != nil {
			return nil, err
		}
		if s.testHookKeysLoaded != nil {
			s.testHookKeysLoaded()
		}
		b, err := readChecked(path, rec, keys.ids)
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			if attempt == 0 {
				continue
			}
			return nil, corrupt(path, "not encrypted to any identity in %s (a file of another org, or the key file was replaced)", keys.path)
		}
		return b, err
	}
}

// readChecked reads path into memory, decrypting with ids unless ids is nil, and checks
// the plaintext against rec.Size and rec.ModelDigest. It returns *age.NoIdentityMatchError
// unwrapped so the caller can retry with a fresh key file.
func readChecked(path string, rec Record, ids []age.Identity) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// Ciphertext is never shorter than its plaintext: this bounds the allocation.
	if rec.Size < 0 || rec.Size > fi.Size() {
		return nil, corrupt(path, "file is %d bytes, record says the model is %d", fi.Size(), rec.Size)
	}
	var b []byte
	if ids == nil {
		b, err = readExact(path, f, rec.Size)
	} else {
		b, err = decryptAt(path, f, fi.Size(), rec.Size, ids)
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != rec.ModelDigest {
		return nil, corrupt(path, "plaintext has digest %s, record says %s: file changed on disk", got, rec.ModelDigest)
	}
	return b, nil
}

// readExact reads exactly size bytes from f and checks that nothing follows.
func readExact(path string, f io.Reader, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, readErr(path, err, "shorter than the recorded %d bytes", size)
	}
	var one [1]byte
	switch n, err := io.ReadFull(f, one[:]); {
	case n == 1:
		return nil, corrupt(path, "longer than the recorded %d bytes", size)
	case err != io.EOF:
		return nil, readErr(path, err, "")
	}
	return b, nil
}

// decryptAt decrypts the age file f of encSize bytes into memory: first the last chunk,
// which authenticates the plaintext size (it must be want), then every chunk into one
// buffer. Unlike age's streaming reader it allocates no buffer per chunk, so peak memory
// stays near the model's size.
func decryptAt(path string, f io.ReaderAt, encSize, want int64, ids []age.Identity) ([]byte, error) {
	ra, size, err := age.DecryptReaderAt(f, encSize, ids...)
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		return nil, err
	case err != nil:
		return nil, readErr(path, err, "not a valid age file")
	case size != want:
		return nil, corrupt(path, "decrypts to %d bytes, record says %d", size, want)
	}
	b := make([]byte, size)
	n, err := ra.ReadAt(b, 0) // io.EOF: read up to the end
	if int64(n) == size && (err == nil || err == io.EOF) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, readErr(path, err, "decrypted %d of %d bytes", n, size)
}

// decryptReader starts decrypting src; a header that does not parse or authenticate is
// ErrCorrupt, no matching identity is returned as *age.NoIdentityMatchError.
func decryptReader(path string, src io.Reader, ids []age.Identity) (io.Reader, error) {
	r, err := age.Decrypt(bufio.NewReaderSize(src, copyBuf), ids...)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, err
	}
	if err != nil {
		return nil, corrupt(path, "not a valid age file: %v", err)
	}
	return r, nil
}

// readErr classifies an error met while reading model bytes: I/O errors of the file
// system stay as they are (retry later); anything else (truncation, failed
// authentication of an age chunk) means the stored bytes are corrupt.
func readErr(path string, err error, format string, args ...any) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("store: %w", err)
	}
	if format == "" {
		return corrupt(path, "%v", err)
	}
	return corrupt(path, format+" (%v)", append(args, err)...)
}

// streamEncrypted copies src into w, encrypted to rcpt when it is not nil, and every
// plaintext byte also into side (a hash, say) unless side is nil. It returns the number
// of plaintext bytes.
func streamEncrypted(w io.Writer, src io.Reader, rcpt age.Recipient, side io.Writer) (int64, error) {
	if rcpt == nil {
		return pipeCopy(w, src, side)
	}
	ew, err := age.Encrypt(w, rcpt)
	if err != nil {
		return 0, fmt.Errorf("encrypt: %w", err)
	}
	n, err := pipeCopy(ew, src, side)
	if err != nil {
		return n, err
	}
	return n, ew.Close()
}

// streamEncryptedFrom is streamEncrypted for a source that writes itself out and needs
// no side copy: a registry blob, which reads ahead and hashes on a goroutine of its own,
// hands its buffers straight to the encryption (no pipeCopy, no copy of the plaintext
// into buffers of ours). It stops when ctx is done.
func streamEncryptedFrom(ctx context.Context, w io.Writer, src io.WriterTo, rcpt age.Recipient) (int64, error) {
	if rcpt == nil {
		return src.WriteTo(ctxWriter{ctx, w})
	}
	ew, err := age.Encrypt(w, rcpt)
	if err != nil {
		return 0, fmt.Errorf("encrypt: %w", err)
	}
	n, err := src.WriteTo(ctxWriter{ctx, ew})
	if err != nil {
		return n, err
	}
	return n, ew.Close()
}

// ctxWriter stops a long copy when ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Buffers of pipeCopy: memory use is bounded by pipeBufs × pipeBufSize. Four keep both
// sides busy through the jitter of a loaded machine (one being read into, one being
// written, two queued); a Put adds directBufs of directBufSize for direct I/O.
const (
	pipeBufs    = 4
	pipeBufSize = 1 << 20
)

// pipeCopy copies src to dst with reading and writing overlapped, so a pull uses two
// cores: a goroutine reads src (network, the registry's digest check) into a few
// buffers and copies them into side (a hash; nil for none), while the calling goroutine
// writes them to dst (encryption, the file). Buffers are allocated as the reader needs
// them, so a small model costs one. The goroutine no longer touches src or side when
// pipeCopy returns, and it wrote every byte to side before pipeCopy returns them as
// copied.
func pipeCopy(dst io.Writer, src io.Reader, side io.Writer) (int64, error) {
	free := make(chan []byte, pipeBufs)
	full := make(chan pipeChunk, pipeBufs)
	stop := make(chan struct{})
	go pipeRead(src, side, free, full, stop)
	var total int64
	for c := range full {
		if len(c.b) > 0 {
			if _, err := dst.Write(c.b); err != nil {
				close(stop)
				for range full { // wait for the reader to end
				}
				return total, err
			}
			total += int64(len(c.b))
		}
		if c.err == io.EOF {
			return total, nil
		}
		if c.err != nil {
			return total, c.err
		}
		free <- c.b[:cap(c.b)]
	}
	return total, nil
}

type pipeChunk struct {
	b   []byte
	err error
}

// pipeRead is pipeCopy's reading goroutine: it sends src's bytes in chunks on full,
// the last one with the error that ended src (io.EOF at its end), and closes full.
func pipeRead(src io.Reader, side io.Writer, free chan []byte, full chan<- pipeChunk, stop <-chan struct{}) {
	defer close(full)
	made := 0
	for {
		var buf []byte
		select {
		case <-stop:
			return
		case buf = <-free:
		default:
			if made < pipeBufs {
				made++
				buf = make([]byte, pipeBufSize)
				break
			}
			select {
			case <-stop:
				return
			case buf = <-free:
			}
		}
		n, err := io.ReadFull(src, buf)
		if side != nil && n > 0 {
			if _, werr := side.Write(buf[:n]); werr != nil && err == nil {
				err = werr
			}
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case full <- pipeChunk{buf[:n], err}:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// streamDecrypted copies the plaintext of the age file src into w, hashing it into h and
// failing with ErrCorrupt once it exceeds limit bytes.
func streamDecrypted(w io.Writer, path string, src io.Reader, ids []age.Identity, h hash.Hash, limit int64) (int64, error) {
	r, err := decryptReader(path, src, ids)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(w, onlyReader{io.TeeReader(io.LimitReader(r, limit+1), h)}, make([]byte, copyBuf))
	if err != nil {
		return n, readErr(path, err, "")
	}
	if n > limit {
		return n, corrupt(path, "longer than the recorded %d bytes", limit)
	}
	return n, nil
}

// onlyReader hides WriterTo so CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }
