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
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/ncw/swift/v2"
)

// Policy bounds the retries of a store operation: exponential backoff
// with jitter, aborted as soon as the context is done. Budget bounds how
// long a failing operation keeps being retried, counted from its first
// failure; Attempts bounds the tries in all. A server's Retry-After is
// honoured up to MaxRetryAfter.
type Policy struct {
	// Attempts is the number of tries in all, the first included; 0 = no
	// bound but the Budget, or 5 when Budget is 0 too. 1 = no retry.
	Attempts int
	// Budget is how long an operation that keeps failing is retried, from
	// its first failure (for a read: from the failure after the last byte
	// that came through); 0 = no bound but Attempts.
	Budget        time.Duration
	Base          time.Duration // first backoff; 0 = 500ms
	Max           time.Duration // backoff cap; 0 = 30s
	MaxRetryAfter time.Duration // cap on a server's Retry-After; 0 = 60s
	Logger        *slog.Logger  // retries are logged at warn level; nil = silent
}

// FromBudget is the policy of the `storage.retry_budget` setting: a
// budget of 0 means no retry at all (each operation is tried once).
func FromBudget(budget time.Duration, logger *slog.Logger) Policy {
	if budget <= 0 {
		return Policy{Attempts: 1, Logger: logger}
	}
	return Policy{Budget: budget, Logger: logger}
}

// ForStore is p as a store's own requests use it: 6 tries when p bounds
// neither the attempts nor the time, the store's logger when p has none, and
// WithDefaults for the rest (one place for Swift and S3).
func (p Policy) ForStore(logger *slog.Logger) Policy {
	if p.Attempts <= 0 && p.Budget <= 0 {
		p.Attempts = 6
	}
	if p.Logger == nil {
		p.Logger = logger
	}
	return p.WithDefaults()
}

// WithDefaults fills the zero fields of p with the documented defaults.
func (p Policy) WithDefaults() Policy {
	if p.Attempts <= 0 && p.Budget <= 0 {
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

// next is the wait before another try, after tries failed ones of an
// operation failing since since; false when the attempts or the budget are
// used up. The last wait is cut so that the last try starts at the end of
// the budget.
func (p Policy) next(tries int, err error, since time.Time) (time.Duration, bool) {
	if p.Attempts > 0 && tries >= p.Attempts {
		return 0, false
	}
	wait := p.backoff(tries, err)
	if p.Budget > 0 {
		left := p.Budget - time.Since(since)
		if left <= 0 {
			return 0, false
		}
		wait = min(wait, left)
	}
	return wait, true
}

// GaveUpError is the last error of an operation whose retries are used up.
type GaveUpError struct {
	Op       string        // what was tried, e.g. "read backups/x.sql.zst"
	Attempts int           // tries in all
	Elapsed  time.Duration // from the first failure to the last
	Budget   time.Duration // the policy's budget (0 = bounded by attempts)
	Err      error         // the last failure
}

func (e *GaveUpError) Error() string {
	if e.Budget > 0 {
		return fmt.Sprintf("%v (%s: still failing after %d attempts over %s; the retry budget is %s)",
			e.Err, e.Op, e.Attempts, e.Elapsed.Round(time.Millisecond), e.Budget)
	}
	return fmt.Sprintf("%v (gave up after %d attempts)", e.Err, e.Attempts)
}

func (e *GaveUpError) Unwrap() error { return e.Err }

func (p Policy) gaveUp(what string, err error, tries int, since time.Time) error {
	if tries <= 1 {
		return err // never retried (Attempts 1: no retry at all)
	}
	return &GaveUpError{Op: what, Attempts: tries, Elapsed: time.Since(since), Budget: p.Budget, Err: err}
}

// Do runs fn until it succeeds, fails with an error retryable rejects, the
// attempts or the budget are used up or ctx is done. The last error is
// returned, as a *GaveUpError when the retries were used up.
func (p Policy) Do(ctx context.Context, what string, retryable func(error) bool, fn func(attempt int) error) error {
	var err error
	var since time.Time
	for attempt := 1; ; attempt++ {
		if err = fn(attempt); err == nil {
			return nil
		}
		if ctx.Err() != nil || !retryable(err) {
			break
		}
		if attempt == 1 {
			since = time.Now()
		}
		wait, ok := p.next(attempt, err, since)
		if !ok {
			return p.gaveUp(what, err, attempt, since)
		}
		p.Logger.Warn("retrying store operation", "op", what, "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
		if Sleep(ctx, wait) != nil {
			break
		}
	}
	return withCause(ctx, err)
}

// withCause adds the reason ctx ended to err, when it did and err does not
// say it already.
func withCause(ctx context.Context, err error) error {
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
// refused, reset or cut short. Cancellation, a missing or changed object,
// other client errors and an error whose retries were used up already
// (*GaveUpError) are permanent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrNotExist) ||
		errors.Is(err, storage.ErrChanged) {
		return false
	}
	if g := (*GaveUpError)(nil); errors.As(err, &g) {
		return false // retried already: retrying again would multiply the budget
	}
	if code := HTTPStatus(err); code != 0 {
		return transientStatus(code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) && errors.Is(ue.Err, io.EOF) {
		return true // the connection closed before an answer (a proxy cut off from its backend)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) && errors.Is(ue.Err, net.ErrClosed) {
		// a request's body still being written when the peer reset the
		// connection: net/http closed it under the writer
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

// Wrap wraps a store so that Open, List and Delete are retried on
// transient errors (IsTransient). A read that fails after its first byte
// is resumed where it stopped when the store's reader is
// storage.Resumable (Swift: a Range request), within the same policy; an
// object replaced in between fails the read (storage.ErrChanged). Put is
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
	err := r.p.Do(ctx, "open "+name, IsTransient, func(int) error {
		rc, err := r.s.Open(ctx, name)
		rr.rc = rc
		return err
	})
	if err != nil {
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

// retryReader carries a read over transient errors: the store's reader
// resumes where it stopped when it is storage.Resumable; otherwise the
// object is opened again, but only while no byte has been returned (once
// data has flowed, errors pass through: a silent restart would repeat
// bytes). Each outage (the failures since the last byte that came
// through) has the policy's attempts and budget.
type retryReader struct {
	ctx     context.Context
	r       *retryStore
	name    string
	rc      io.ReadCloser
	started bool  // a byte has been returned
	pending error // a transient error that came with the last bytes returned
	tries   int   // failed tries of the current outage
	since   time.Time
}

func (rr *retryReader) Read(p []byte) (int, error) {
	for {
		var n int
		err := rr.pending
		if rr.pending != nil {
			rr.pending = nil
		} else {
			n, err = rr.rc.Read(p)
		}
		if n > 0 {
			rr.started, rr.tries = true, 0
		}
		if err == nil || err == io.EOF || len(p) == 0 || !IsTransient(err) || rr.ctx.Err() != nil {
			return n, err
		}
		if n > 0 {
			rr.pending = err // deal with it at the next Read
			return n, nil
		}
		if err = rr.recover(err); err != nil {
			return 0, err
		}
	}
}

// recover waits and resumes (or reopens) after err until it works, a try
// fails with a permanent error, or the policy gives up.
func (rr *retryReader) recover(err error) error {
	res, resumable := rr.rc.(storage.Resumable)
	if !resumable && rr.started {
		return err
	}
	what := "read " + rr.name
	if rr.tries == 0 {
		rr.since = time.Now()
	}
	for {
		rr.tries++
		wait, ok := rr.r.p.next(rr.tries, err, rr.since)
		if !ok {
			return rr.r.p.gaveUp(what, err, rr.tries, rr.since)
		}
		rr.r.p.Logger.Warn("retrying store operation", "op", what, "attempt", rr.tries, "wait", wait.Round(time.Millisecond), "err", err)
		if Sleep(rr.ctx, wait) != nil {
			return withCause(rr.ctx, err)
		}
		if resumable {
			err = res.Resume(rr.ctx)
		} else {
			_ = rr.rc.Close()
			var rc io.ReadCloser
			if rc, err = rr.r.s.Open(rr.ctx, rr.name); err == nil {
				rr.rc = rc
			}
		}
		if err == nil {
			return nil
		}
		if !IsTransient(err) || rr.ctx.Err() != nil {
			return withCause(rr.ctx, err)
		}
	}
}

func (rr *retryReader) Close() error { return rr.rc.Close() }

var (
	_ storage.Store   = (*retryStore)(nil)
	_ storage.Orphans = (*retryOrphanStore)(nil)
)
