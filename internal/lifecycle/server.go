package lifecycle

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listen opens a TCP listener on addr. Listening before running lets the
// caller learn the bound address when addr has port 0 (ln.Addr()), and
// makes a busy port fail start-up before anything else begins.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// HTTPServer returns a component serving srv on ln, or on srv.Addr when
// ln is nil. When ctx ends it stops accepting connections and gives
// in-flight requests up to shutdownTimeout to finish, then closes what
// is left; cutting requests off that way is reported as an error.
//
// Request contexts are not cancelled when shutdown begins (srv.BaseContext
// is left to the caller): a request already running deserves to finish.
func HTTPServer(srv *http.Server, ln net.Listener, shutdownTimeout time.Duration) Component {
	return Func(func(ctx context.Context) error {
		l := ln
		if l == nil {
			var err error
			if l, err = Listen(srv.Addr); err != nil {
				return err
			}
		}
		addr := l.Addr().String()
		dl := &drainListener{Listener: l}
		fresh := trackFresh(srv)

		served := make(chan error, 1)
		go func() { served <- srv.Serve(dl) }()

		select {
		case err := <-served:
			// Serve only returns early on a broken listener.
			return fmt.Errorf("serve http on %s: %w", addr, err)
		case <-ctx.Done():
		}

		// Accept what the kernel has already queued before closing the
		// listener: closing it outright resets connections whose clients
		// have sent their request and are waiting for the answer.
		dl.stopAccepting()
		select {
		case <-served:
		case <-time.After(2 * time.Second):
		}
		// Shutdown drops a request read after it begins, so first let every
		// accepted connection read its request: a client that connected
		// before we stopped accepting deserves an answer.
		for deadline := time.Now().Add(shutdownTimeout / 2); fresh.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}

		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		shutdownErr := srv.Shutdown(shutdownCtx)
		// Shutdown leaves hijacked connections (and, after its deadline,
		// busy ones) open.
		_ = srv.Close()
		if shutdownErr != nil {
			return fmt.Errorf("http server on %s: in-flight requests did not finish within %s: %w", addr, shutdownTimeout, shutdownErr)
		}
		return nil
	})
}

// trackFresh counts srv's connections that have been accepted but have
// not yet read their first request, chaining any ConnState hook srv has.
func trackFresh(srv *http.Server) *atomic.Int64 {
	var fresh atomic.Int64
	var mu sync.Mutex
	isNew := map[net.Conn]bool{}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		switch {
		case st == http.StateNew:
			isNew[c] = true
			fresh.Add(1)
		case isNew[c]:
			delete(isNew, c)
			fresh.Add(-1)
		}
		mu.Unlock()
		if next != nil {
			next(c, st)
		}
	}
	return &fresh
}

// drainListener stops accepting gracefully. Closing a listener outright
// resets the connections the kernel has already queued, whose clients
// have sent their requests and wait for answers; a busy server can have
// several queued. After stopAccepting, Accept hands out every queued
// connection (taken without blocking), and only then closes.
type drainListener struct {
	net.Listener
	stopping atomic.Bool
	mu       sync.Mutex
	queued   []net.Conn
	drained  bool
}

type deadliner interface{ SetDeadline(time.Time) error }

// stopAccepting wakes a blocked Accept; the next Accept drains the queue.
func (l *drainListener) stopAccepting() {
	l.stopping.Store(true)
	if d, ok := l.Listener.(deadliner); ok {
		_ = d.SetDeadline(time.Now())
		return
	}
	_ = l.Listener.Close()
}

func (l *drainListener) Accept() (net.Conn, error) {
	if !l.stopping.Load() {
		c, err := l.Listener.Accept()
		if err == nil || !l.stopping.Load() {
			return c, err
		}
		if c != nil {
			return c, nil
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.drained {
		l.drained = true
		l.queued = acceptQueued(l.Listener)
		_ = l.Listener.Close()
	}
	if len(l.queued) == 0 {
		return nil, net.ErrClosed
	}
	c := l.queued[0]
	l.queued = l.queued[1:]
	return c, nil
}
