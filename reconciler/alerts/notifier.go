package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Notifier delivers events to its targets. Its methods are safe for concurrent use.
type Notifier struct {
	opts    options
	workers []*worker
	abort   context.Context // canceled when Close's deadline passes
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
	closed  atomic.Bool
}

// worker owns one target's queue and delivery goroutine.
type worker struct {
	t      Target
	u      *url.URL
	client *http.Client

	mu     sync.Mutex
	queue  []*delivery // oldest first, at most opts.queueSize
	closed bool
	wake   chan struct{}

	delivered, failed, dropped atomic.Uint64
}

// delivery is one event serialised for the wire.
type delivery struct {
	id, org, kind string
	body          []byte
}

// New validates targets and starts one delivery goroutine per target; Close stops them.
func New(targets []Target, opts ...Option) (*Notifier, error) {
	o := options{queueSize: 256, maxAttempts: 6, base: time.Second, max: time.Minute, timeout: 10 * time.Second, sleep: sleep}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	client := &http.Client{}
	if o.client != nil {
		c := *o.client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	n := &Notifier{opts: o}
	for i, t := range targets {
		t, u, err := checkTarget(i, t)
		if err != nil {
			return nil, err
		}
		n.workers = append(n.workers, &worker{t: t, u: u, client: client, wake: make(chan struct{}, 1)})
	}
	n.abort, n.cancel = context.WithCancel(context.Background())
	for _, w := range n.workers {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.run(w) }()
	}
	return n, nil
}

// Send queues ev for every target that wants its kind and org and returns at once; it
// never blocks on a receiver. It fails for an unknown kind, for evidence that cannot be
// serialised, and after Close (ErrClosed).
func (n *Notifier) Send(ev Event) error {
	if n.closed.Load() {
		return ErrClosed
	}
	d, err := encode(ev)
	if err != nil {
		return err
	}
	for _, w := range n.workers {
		if !w.t.wants(d.kind, d.org) {
			continue
		}
		if old, ok := w.push(d, n.opts.queueSize); !ok {
			return ErrClosed
		} else if old != nil {
			w.dropped.Add(1)
			n.report(Result{Target: w.t.Name, ID: old.id, Org: old.org, Kind: old.kind, Err: ErrDropped, Dropped: true})
		}
	}
	return nil
}

// Close stops accepting events and waits until every queued event was delivered or given
// up, or until ctx ends; then it abandons in-flight and queued events (reported as Dropped
// with ErrClosed) and returns ctx's error. Later calls wait the same way.
func (n *Notifier) Close(ctx context.Context) error {
	n.once.Do(func() {
		n.closed.Store(true)
		for _, w := range n.workers {
			w.mu.Lock()
			w.closed = true
			w.mu.Unlock()
			w.signal()
		}
	})
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		n.cancel()
		return nil
	case <-ctx.Done():
		n.cancel()
		<-done
		return fmt.Errorf("alerts: close: %w", ctx.Err())
	}
}

// Stats returns each target's counters, in the order of the targets given to New.
func (n *Notifier) Stats() []Stats {
	out := make([]Stats, len(n.workers))
	for i, w := range n.workers {
		w.mu.Lock()
		q := len(w.queue)
		w.mu.Unlock()
		out[i] = Stats{Target: w.t.Name, Queued: q, Delivered: w.delivered.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load()}
	}
	return out
}

func (n *Notifier) report(r Result) {
	if n.opts.results != nil {
		n.opts.results(r)
	}
}

// push appends d, dropping and returning the oldest event when the queue is full; ok is
// false after Close.
func (w *worker) push(d *delivery, size int) (old *delivery, ok bool) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, false
	}
	if len(w.queue) >= size {
		old = w.queue[0]
		w.queue = w.queue[1:]
	}
	w.queue = append(w.queue, d)
	w.mu.Unlock()
	w.signal()
	return old, true
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pop returns the oldest event, waiting for one; ok is false once closed and empty.
func (w *worker) pop() (*delivery, bool) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			d := w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return d, true
		}
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return nil, false
		}
		<-w.wake
	}
}

// run delivers w's events one at a time until Close.
func (n *Notifier) run(w *worker) {
	for {
		d, ok := w.pop()
		if !ok {
			return
		}
		if n.abort.Err() != nil {
			w.dropped.Add(1)
			n.report(Result{Target: w.t.Name, ID: d.id, Org: d.org, Kind: d.kind, Err: ErrClosed, Dropped: true})
			continue
		}
		n.deliver(w, d)
	}
}

// deliver attempts d until it succeeds, fails for good, runs out of attempts or is aborted.
func (n *Notifier) deliver(w *worker, d *delivery) {
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := n.post(w, d, attempt)
		r := Result{Target: w.t.Name, ID: d.id, Org: d.org, Kind: d.kind, Attempt: attempt, Status: status, Err: err}
		if err == nil {
			w.delivered.Add(1)
			n.report(r)
			return
		}
		if n.abort.Err() != nil {
			w.dropped.Add(1)
			r.Err, r.Dropped = fmt.Errorf("%w: %w", ErrClosed, err), true
			n.report(r)
			return
		}
		var se *StatusError
		if (errors.As(err, &se) && !se.Retryable()) || attempt >= n.opts.maxAttempts {
			w.failed.Add(1)
			n.report(r)
			return
		}
		r.RetryIn = n.backoff(attempt, retryAfter)
		n.report(r)
		if !n.opts.sleep(n.abort.Done(), r.RetryIn) {
			w.dropped.Add(1)
			n.report(Result{Target: w.t.Name, ID: d.id, Org: d.org, Kind: d.kind, Attempt: attempt, Err: ErrClosed, Dropped: true})
			return
		}
	}
}

// sleep waits d or until done is closed; it reports whether the full wait passed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
