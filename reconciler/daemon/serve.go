package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout bounds the graceful shutdown of the HTTP server: in-flight requests get
// this long to finish.
const ShutdownTimeout = 10 * time.Second

// Serve serves srv on ln and runs loop beside it until ctx is done (or the server fails),
// then shuts the server down gracefully, waits for loop to return, and calls each of
// closers with the shutdown context.
func Serve(ctx context.Context, ln net.Listener, srv *http.Server, loop func(context.Context), closers ...func(context.Context)) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); loop(loopCtx) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	shut, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(shut); err == nil {
		err = serr
	}
	stopLoop()
	<-loopDone
	for _, c := range closers {
		c(shut)
	}
	return err
}
