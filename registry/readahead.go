package registry

import (
	"errors"
	"hash"
	"io"
	"sync"
)

// Read-ahead of large blob bodies: the network reads (a copy out of the socket, most of
// a loopback pull's system time) and the hashing run on their own goroutine, so that
// the consumer's goroutine only copies the bytes out, and a consumer that pipelines its
// own work (the store encrypts on another goroutine, the reconciler keeps the plaintext)
// spreads a pull over the cores instead of queueing it behind one hash.
const (
	readaheadMin   = 1 << 20 // smaller bodies are read directly: a goroutine buys nothing
	readaheadChunk = 1 << 20
	readaheadBufs  = 4 // memory is bounded by readaheadBufs × readaheadChunk per body
)

// readahead reads body on a goroutine into a few buffers, at most limit bytes in all,
// writes the first hashLimit of them into h (when not nil) before it hands them out, in
// order, through Read: once Read has returned the error that ends the stream, h holds
// every byte Read returned, up to hashLimit. Errors from body (io.EOF included) arrive
// after the bytes read before them. Close stops the goroutine and closes body; it
// returns once the goroutine no longer touches body or the buffers.
type readahead struct {
	body   io.ReadCloser
	full   chan raChunk
	free   chan []byte
	done   chan struct{}
	exited chan struct{}
	once   sync.Once

	h         hash.Hash
	hashLimit int64

	cur  raChunk // the chunk being consumed
	off  int     // how much of cur.b was consumed
	err  error   // sticky: the error that ended the stream
	held bool    // cur.b came from the goroutine and goes back to free when consumed
}

var errClosedBody = errors.New("read on a closed blob body")

type raChunk struct {
	b   []byte
	err error
}

// newReadahead starts reading body ahead of the consumer; limit bounds how many bytes
// it reads from body in all (a server that sends more is not read past limit). h may be
// nil.
func newReadahead(body io.ReadCloser, limit int64, h hash.Hash, hashLimit int64) *readahead {
	ra := &readahead{
		h:         h,
		hashLimit: hashLimit,
		body:      body,
		full:      make(chan raChunk, readaheadBufs),
		free:      make(chan []byte, readaheadBufs),
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
	}
	go ra.fill(io.LimitReader(body, limit))
	return ra
}

// fill is the goroutine: it reads chunks until an error (io.EOF at the end) or Close.
func (ra *readahead) fill(src io.Reader) {
	defer close(ra.exited)
	made := 0
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		default:
			if made < readaheadBufs {
				made++
				buf = make([]byte, readaheadChunk)
				break
			}
			select {
			case buf = <-ra.free:
			case <-ra.done:
				return
			}
		}
		n, err := io.ReadFull(src, buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		if k := min(int64(n), ra.hashLimit); ra.h != nil && k > 0 {
			ra.h.Write(buf[:k])
			ra.hashLimit -= k
		}
		select {
		case ra.full <- raChunk{buf[:n], err}: // never blocks: at most readaheadBufs buffers exist
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader.
func (ra *readahead) Read(p []byte) (int, error) {
	if err := ra.fill1(); err != nil {
		return 0, err
	}
	n := copy(p, ra.cur.b[ra.off:])
	ra.off += n
	return n, nil
}

// lend returns up to max of the next bytes without copying them: the slice is valid
// until the next call of lend, Read or Close.
func (ra *readahead) lend(max int64) ([]byte, error) {
	if err := ra.fill1(); err != nil {
		return nil, err
	}
	n := int(min(int64(len(ra.cur.b)-ra.off), max))
	b := ra.cur.b[ra.off : ra.off+n]
	ra.off += n
	return b, nil
}

// fill1 makes sure the current chunk has unread bytes, taking the next one (and giving
// the consumed one back) when needed; it returns the error that ended the stream.
func (ra *readahead) fill1() error {
	for ra.off == len(ra.cur.b) {
		if ra.err != nil {
			return ra.err
		}
		if ra.cur.err != nil {
			ra.err = ra.cur.err
			continue
		}
		if ra.held {
			ra.free <- ra.cur.b[:cap(ra.cur.b)] // never blocks: the buffer came from the goroutine
			ra.held = false
		}
		var c raChunk
		select {
		case c = <-ra.full:
		case <-ra.exited:
			select {
			case c = <-ra.full:
			default:
				ra.err = errClosedBody // only after Close: the goroutine ends on an error chunk
				continue
			}
		}
		ra.cur, ra.off, ra.held = c, 0, true
	}
	return nil
}

// Close implements io.Closer.
func (ra *readahead) Close() error {
	var err error
	ra.once.Do(func() {
		close(ra.done)
		err = ra.body.Close() // unblocks a Read of the goroutine in progress
		<-ra.exited
	})
	return err
}
