package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"

	"github.com/eaglenotifier/talon/inference/lowprio"
)

// readChunk is how much readFollowed reads before it lets the encryption follow.
const readChunk = 1 << 20

// followed is a buffer being filled by one goroutine while another writes out what is
// already there: the plaintext of a ReadInto Put, encrypted as it arrives.
type followed struct {
	buf  []byte
	mu   sync.Mutex
	cond *sync.Cond
	n    int   // bytes of buf filled
	end  error // set once filling stopped: io.EOF when buf was filled and checked
	off  int   // the follower's position (its goroutine only)

}

func newFollowed(buf []byte) *followed {
	f := &followed{buf: buf}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// filled publishes that buf[:n] holds bytes.
func (f *followed) filled(n int) {
	f.mu.Lock()
	f.n = n
	f.mu.Unlock()
	f.cond.Broadcast()
}

// stop publishes the end of filling: io.EOF for a whole, checked stream, else why it
// failed (the follower's Read then fails with it, so no file is kept).
func (f *followed) stop(err error) {
	f.mu.Lock()
	f.end = err
	f.mu.Unlock()
	f.cond.Broadcast()
}

// WriteTo implements io.WriterTo for the follower: it writes filled bytes to w as they
// arrive, straight from buf, and ends with nil only once the filler ended with io.EOF
// (with any other end, that error: the file is then not kept).
func (f *followed) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		f.mu.Lock()
		for f.off == f.n && f.end == nil {
			f.cond.Wait()
		}
		n, end := f.n, f.end
		f.mu.Unlock()
		if f.off < n {
			m, err := w.Write(f.buf[f.off:n])
			f.off += m
			total += int64(m)
			if err != nil {
				return total, err
			}
			continue
		}
		if end == io.EOF && n == len(f.buf) {
			return total, nil
		}
		if end == io.EOF {
			end = io.ErrUnexpectedEOF
		}
		return total, end
	}
}

// putFollowed is Put's ReadInto path: it reads r into buf on the caller's goroutine while
// a goroutine on a low-priority thread encrypts what has arrived into the version file
// (writeFile), so the encryption takes only the CPU the transfer leaves. Once the whole
// stream is in, verify checks it (and calls Put's OnVerified: the load then runs while
// the encryption finishes). The file is renamed into place only after verify passed.
func putFollowed(ctx context.Context, path string, r io.Reader, buf []byte, side io.Writer, rcpt age.Recipient, verify func(n int64) error) (int64, error) {
	f := newFollowed(buf)
	done := make(chan error, 1)
	go lowprio.Run(func() {
		fill := func(w io.Writer) (int64, error) { return streamEncryptedFrom(ctx, w, f, rcpt) }
		_, err := writeFile(ctx, path, fill, nil, writeMode{large: true})
		done <- err
	})
	n, err := readFollowed(r, f, side)
	if err == nil {
		err = verify(n)
	}
	if err != nil {
		f.stop(err)
		<-done
		return n, err
	}
	f.stop(io.EOF)
	if err := <-done; err != nil {
		return n, err
	}
	return n, nil
}

// readFollowed fills f.buf from r in chunks, publishing each, and makes sure r ends
// exactly there (for a VerifyingReader, its io.EOF is the check of the whole stream).
// What it read also goes to side when not nil.
func readFollowed(r io.Reader, f *followed, side io.Writer) (int64, error) {
	n := 0
	for n < len(f.buf) {
		m, err := io.ReadFull(r, f.buf[n:min(n+readChunk, len(f.buf))])
		if side != nil && m > 0 {
			side.Write(f.buf[n : n+m])
		}
		n += m
		f.filled(n)
		if err == io.ErrUnexpectedEOF || err == io.EOF { // r itself ended early
			return int64(n), fmt.Errorf("stream of %d bytes, %d expected: %w", n, len(f.buf), io.ErrUnexpectedEOF)
		}
		if err != nil {
			return int64(n), err
		}
	}
	var one [1]byte
	switch m, err := io.ReadFull(r, one[:]); {
	case m > 0:
		return int64(n), fmt.Errorf("stream longer than the %d bytes expected", len(f.buf))
	case !errors.Is(err, io.EOF):
		return int64(n), err
	}
	return int64(n), nil
}
