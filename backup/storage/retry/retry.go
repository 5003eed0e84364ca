package retry

import (
	"context"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/storage"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ncw/swift/v2"
)

// Policy bounds the retries of a store operation: exponential backoff
// with jitter, at most Attempts tries in all, aborted as soon as the context
// is done. A server's Retry-After is honoured up to MaxRetryAfter.
type Policy struct {
	Attempts      int           // tries in all, the first included; 0 = 5
	Base          time.Duration // first backoff; 0 = 500ms
	Max           time.Duration // backoff cap; 0 = 30s
	MaxRetryAfter time.Duration // cap on a server's Retry-After; 0 = 60s
	Logger        *slog.Logger  // retries are logged at warn level; nil = silent
}

// WithDefaults fills the zero fields of p with the documented defaults.
func (p Policy) WithDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 60 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	return p
}

// backoff is the wait before retry number n (1 = the first retry): an
// exponential step with "equal jitter" (half fixed, half random), or the
// server's Retry-After when err carries one (capped at MaxRetryAfter).
func (p Policy) backoff(n int, err error) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	d = d/2 + rand.N(d/2+1)
	if ra, ok := RetryAfter(err); ok {
		d = max(d, min(ra, p.MaxRetryAfter))
	}
	return d
}

// do runs fn until it succeeds, fails with an error retryable rejects, the
// attempts are used up or ctx is done. The last error is returned, with the
// number of attempts when there was more than one.
func (p Policy) Do(ctx context.Context, what string, retryable func(error) bool, fn func(attempt int) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(attempt); err == nil {
			return nil
		}
		if ctx.Err() != nil || !retryable(err) {
			break
		}
		if attempt >= p.Attempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		wait := p.backoff(attempt, err)
		p.Logger.Warn("retrying store operation", "op", what, "attempt", attempt, "of", p.Attempts, "wait", wait.Round(time.Millisecond), "err", err)
		if Sleep(ctx, wait) != nil {
			break
		}
	}
	if cerr := context.Cause(ctx); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}

func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryAfter returns the wait a server asked for (Retry-After), if err
// carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		return ra.RetryAfter(), true
	}
	return 0, false
}

// HTTPStatus returns the HTTP status code carried by err (0 when none).
func HTTPStatus(err error) int {
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) {
		return hs.HTTPStatus()
	}
	var se *swift.Error
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// IsTransient reports whether err is worth retrying: HTTP 5xx (but 501 and
// 505), 408, 429 and Swift's 498 rate limit, timeouts, and connections
// refused, reset or cut short. Cancellation, a missing object and other
// client errors are permanent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrNotExist) {
		return false
	}
	if code := HTTPStatus(err); code != 0 {
		return transientStatus(code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// net/http does not export these.
	s := err.Error()
	return strings.Contains(s, "server closed idle connection") || strings.Contains(s, "connection reset by peer")
}

func transientStatus(code int) bool {
	switch {
	case code == 408, code == 429, code == 498:
		return true
	case code == 501, code == 505:
		return false
	default:
		return code >= 500 && code <= 599
	}
}

// Wrap wraps a store so that Open (until the first byte is returned),
// List and Delete are retried on transient errors (IsTransient). Put is
// passed through: a stream cannot be rewound, so a store retries the parts
// of an upload itself (the Swift store retries each segment). The result
// implements storage.Orphans when s does.
func Wrap(s storage.Store, p Policy) storage.Store {
	r := &retryStore{s: s, p: p.WithDefaults()}
	if o, ok := s.(storage.Orphans); ok {
		return &retryOrphanStore{retryStore: r, o: o}
	}
	return r
}

type retryStore struct {
	s storage.Store
	p Policy
}

// Unwrap returns the wrapped store.
func (r *retryStore) Unwrap() storage.Store { return r.s }

func (r *retryStore) String() string { return r.s.String() }

func (r *retryStore) Put(ctx context.Context, name string, rd io.Reader) (storage.Object, error) {
	return r.s.Put(ctx, name, rd)
}

func (r *retryStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rr := &retryReader{ctx: ctx, r: r, name: name}
	if err := rr.open(); err != nil {
		return nil, err
	}
	return rr, nil
}

func (r *retryStore) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	var out []storage.Object
	err := r.p.Do(ctx, "list "+prefix, IsTransient, func(int) error {
		var err error
		out, err = r.s.List(ctx, prefix)
		return err
	})
	return out, err
}

func (r *retryStore) Delete(ctx context.Context, names ...string) error {
	return r.p.Do(ctx, "delete", IsTransient, func(int) error { return r.s.Delete(ctx, names...) })
}

type retryOrphanStore struct {
	*retryStore
	o storage.Orphans
}

func (r *retryOrphanStore) Orphans(ctx context.Context, prefix string, olderThan time.Duration) ([]string, error) {
	var out []string
	err := r.p.Do(ctx, "orphans "+prefix, IsTransient, func(int) error {
		var err error
		out, err = r.o.Orphans(ctx, prefix, olderThan)
		return err
	})
	return out, err
}

func (r *retryOrphanStore) DeleteOrphans(ctx context.Context, names []string) error {
	return r.p.Do(ctx, "delete orphans", IsTransient, func(int) error { return r.o.DeleteOrphans(ctx, names) })
}

// retryReader reopens the object while no byte has been returned yet: an
// error on the first Read (a reset connection, a stalled proxy) is retried
// like an error of Open itself. Once data has flowed, errors pass through.
type retryReader struct {
	ctx      context.Context
	r        *retryStore
	name     string
	rc       io.ReadCloser
	attempts int // used up so far
	started  bool
}

func (rr *retryReader) open() error {
	left := rr.r.p
	left.Attempts -= rr.attempts
	if left.Attempts < 1 {
		left.Attempts = 1
	}
	return left.Do(rr.ctx, "open "+rr.name, IsTransient, func(int) error {
		rr.attempts++
		rc, err := rr.r.s.Open(rr.ctx, rr.name)
		if err == nil {
			rr.rc = rc
		}
		return err
	})
}

func (rr *retryReader) Read(p []byte) (int, error) {
	for {
		n, err := rr.rc.Read(p)
		if rr.started || n > 0 || len(p) == 0 || err == nil || err == io.EOF ||
			!IsTransient(err) || rr.attempts >= rr.r.p.Attempts || rr.ctx.Err() != nil {
			rr.started = rr.started || n > 0
			return n, err
		}
		rr.r.p.Logger.Warn("retrying store operation", "op", "open "+rr.name, "attempt", rr.attempts, "err", err)
		_ = rr.rc.Close()
		if Sleep(rr.ctx, rr.r.p.backoff(rr.attempts, err)) != nil {
			return 0, err
		}
		if oerr := rr.open(); oerr != nil {
			return 0, oerr
		}
	}
}

func (rr *retryReader) Close() error { return rr.rc.Close() }

var (
	_ storage.Store   = (*retryStore)(nil)
	_ storage.Orphans = (*retryOrphanStore)(nil)
)
