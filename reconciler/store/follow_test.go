package store

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestFollowed: the follower writes out every byte once, in order, while the buffer
// fills; it ends with nil only when the filler ends with io.EOF on a full buffer, and
// with the filler's error (or an unexpected EOF) otherwise.
func TestFollowed(t *testing.T) {
	data := randomBytes(5, 3<<20+77)
	boom := errors.New("digest mismatch")
	for _, tc := range []struct {
		name   string
		upTo   int   // bytes filled before the end
		end    error // the filler's end
		wantOK bool
	}{
		{"whole", len(data), io.EOF, true},
		{"failed check", len(data), boom, false},
		{"cut short", len(data) / 2, boom, false},
		{"short but EOF", len(data) - 1, io.EOF, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, len(data))
			f := newFollowed(buf)
			var got bytes.Buffer
			done := make(chan error, 1)
			go func() { _, err := f.WriteTo(&got); done <- err }()
			for n := 0; n < tc.upTo; {
				k := min(tc.upTo-n, 1+n%70001)
				copy(buf[n:n+k], data[n:n+k])
				n += k
				f.filled(n)
			}
			f.stop(tc.end)
			err := <-done
			switch {
			case tc.wantOK && (err != nil || !bytes.Equal(got.Bytes(), data)):
				t.Fatalf("WriteTo = %v, %d bytes (equal %v); want nil and every byte", err, got.Len(), bytes.Equal(got.Bytes(), data))
			case !tc.wantOK && err == nil:
				t.Fatalf("WriteTo = nil after the filler ended with %v at %d of %d bytes", tc.end, tc.upTo, len(data))
			case !tc.wantOK && !bytes.Equal(got.Bytes(), data[:got.Len()]):
				t.Fatal("WriteTo wrote bytes out of order")
			}
		})
	}
}
