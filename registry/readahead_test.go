package registry

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
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
