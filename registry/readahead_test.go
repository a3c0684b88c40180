package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// choppy returns data in reads of random sizes, then err (io.EOF when nil).
type choppy struct {
	data []byte
	rng  *rand.Rand
	err  error
}

func (c *choppy) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(300<<10))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func (c *choppy) Close() error { return nil }

func randomData(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestReadaheadDeliversTheStream: every byte in order, whatever the sizes of the body's
// reads and the consumer's, and io.EOF at the end (testing/iotest's reader checks).
func TestReadaheadDeliversTheStream(t *testing.T) {
	for _, n := range []int{0, 1, readaheadChunk - 1, readaheadChunk, 3*readaheadChunk + 77, (readaheadBufs+3)*readaheadChunk + 5} {
		data := randomData(n)
		ra := newReadahead(&choppy{data: data, rng: rand.New(rand.NewPCG(2, 3))}, int64(n)+1, nil, 0)
		if err := iotest.TestReader(ra, data); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if err := ra.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadaheadErrorAfterBytes: a body's error arrives after the bytes read before it,
// and stays.
func TestReadaheadErrorAfterBytes(t *testing.T) {
	boom := errors.New("connection reset")
	data := randomData(2*readaheadChunk + 10)
	ra := newReadahead(&choppy{data: data, rng: rand.New(rand.NewPCG(4, 5)), err: boom}, 1<<40, nil, 0)
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if !errors.Is(err, boom) || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes (equal %v), err %v; want every byte, then %v", len(got), len(data), bytes.Equal(got, data), err, boom)
	}
	if _, err := ra.Read(make([]byte, 10)); !errors.Is(err, boom) {
		t.Fatalf("Read after the error = %v, want %v again", err, boom)
	}
}

// TestReadaheadLimit: a body longer than the limit is read no further than the limit.
func TestReadaheadLimit(t *testing.T) {
	data := randomData(5 * readaheadChunk)
	body := &choppy{data: data, rng: rand.New(rand.NewPCG(6, 7))}
	limit := int64(2*readaheadChunk + 3)
	ra := newReadahead(body, limit, nil, 0)
	got, err := io.ReadAll(ra)
	ra.Close()
	if err != nil || int64(len(got)) != limit || !bytes.Equal(got, data[:limit]) {
		t.Fatalf("read %d bytes, %v; want the first %d", len(got), err, limit)
	}
	if left := len(body.data); int64(len(data)-left) != limit {
		t.Fatalf("the body was read to byte %d, want %d", len(data)-left, limit)
	}
}

// TestReadaheadCloseStopsTheReader: Close unblocks a body read in progress (as closing an
// HTTP body does) and returns once the goroutine has ended; Read then fails.
func TestReadaheadCloseStopsTheReader(t *testing.T) {
	pr, pw := io.Pipe()
	go pw.Write(randomData(100)) // then the body stalls
	ra := newReadahead(pr, 1<<30, nil, 0)
	buf := make([]byte, 10)
	closed := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		closed <- ra.Close()
	}()
	if _, err := io.ReadFull(ra, make([]byte, 200)); err == nil {
		t.Fatal("read 200 bytes of a body that sent 100")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case <-ra.exited:
	default:
		t.Fatal("Close returned before the read-ahead goroutine ended")
	}
	if _, err := ra.Read(buf); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

// TestVerifiedWriteToLends: WriteTo over a read-ahead body gives w every byte once, in
// order, ends with nil only for the right digest, and stops at w's error.
func TestVerifiedWriteToLends(t *testing.T) {
	data := randomData(3*readaheadChunk + 999)
	sum := sha256.Sum256(data)
	want := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	open := func(d v1.Hash) *verifiedReader {
		body := &choppy{data: data, rng: rand.New(rand.NewPCG(8, 9))}
		vr := newVerifiedReader(body, "test blob", d, int64(len(data)))
		vr.body, vr.hashed = newReadahead(body, int64(len(data))+1, vr.h, int64(len(data))), true
		return vr
	}
	var got bytes.Buffer
	vr := open(want)
	if n, err := vr.WriteTo(&got); err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("WriteTo = %d, %v (equal %v); want every byte, nil", n, err, bytes.Equal(got.Bytes(), data))
	}
	vr.Close()
	other := want
	other.Hex = strings.Repeat("0", 64)
	vr = open(other)
	if _, err := vr.WriteTo(io.Discard); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("WriteTo with another digest = %v, want ErrDigestMismatch", err)
	}
	vr.Close()
	boom := errors.New("disk full")
	vr = open(want)
	if n, err := vr.WriteTo(&failAfter{n: readaheadChunk + 10, err: boom}); !errors.Is(err, boom) || n > readaheadChunk+10 {
		t.Fatalf("WriteTo into a failing writer = %d, %v; want at most %d bytes, %v", n, err, readaheadChunk+10, boom)
	}
	vr.Close()
}

// failAfter accepts n bytes, then fails with err.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, f.err
	}
	f.n -= len(p)
	return len(p), nil
}
