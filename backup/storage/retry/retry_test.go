package retry

import (
	"context"
	"errors"
	"fmt"
	"github.com/opsteam/ops/backup/storage"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncw/swift/v2"
)

// retryScripted fails each method with the errors queued for it, then
// succeeds.
type retryScripted struct {
	errs  map[string][]error
	calls map[string]int
	open  func(n int) io.ReadCloser // the reader of the n-th successful Open
	opens int
}

func newRetryScripted() *retryScripted {
	return &retryScripted{errs: map[string][]error{}, calls: map[string]int{}}
}

func (s *retryScripted) next(method string) error {
	s.calls[method]++
	if q := s.errs[method]; len(q) > 0 {
		s.errs[method] = q[1:]
		return q[0]
	}
	return nil
}

func (s *retryScripted) Put(_ context.Context, name string, r io.Reader) (storage.Object, error) {
	if err := s.next("put"); err != nil {
		return storage.Object{}, err
	}
	n, err := io.Copy(io.Discard, r)
	return storage.Object{Name: name, Size: n}, err
}

func (s *retryScripted) Open(context.Context, string) (io.ReadCloser, error) {
	if err := s.next("open"); err != nil {
		return nil, err
	}
	s.opens++
	return s.open(s.opens), nil
}

func (s *retryScripted) List(context.Context, string) ([]storage.Object, error) {
	if err := s.next("list"); err != nil {
		return nil, err
	}
	return []storage.Object{{Name: "a"}}, nil
}

func (s *retryScripted) Delete(context.Context, ...string) error { return s.next("delete") }
func (s *retryScripted) String() string                          { return "scripted" }

var retryFast = Policy{Attempts: 4, Base: time.Millisecond, Max: 2 * time.Millisecond}

func retryHTTPErr(code int) error {
	return &swift.Error{StatusCode: code, Text: fmt.Sprintf("HTTP Error: %d", code)}
}

func TestIsTransient(t *testing.T) {
	timeout := &net.OpError{Op: "read", Err: &retryTimeoutErr{}}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{retryHTTPErr(500), true}, {retryHTTPErr(502), true}, {retryHTTPErr(503), true}, {retryHTTPErr(504), true},
		{retryHTTPErr(408), true}, {retryHTTPErr(429), true}, {retryHTTPErr(498), true}, {swift.TimeoutError, true},
		{fmt.Errorf("wrapped: %w", retryHTTPErr(503)), true},
		{retryHTTPErr(501), false}, {retryHTTPErr(400), false}, {retryHTTPErr(401), false}, {retryHTTPErr(403), false},
		{retryHTTPErr(404), false}, {retryHTTPErr(409), false}, {retryHTTPErr(422), false}, {swift.ObjectNotFound, false},
		{fmt.Errorf("x: %w", storage.ErrNotExist), false},
		{context.Canceled, false}, {fmt.Errorf("op: %w", context.Canceled), false},
		{context.DeadlineExceeded, true},
		{timeout, true},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{fmt.Errorf("write: %w", syscall.EPIPE), true},
		{io.ErrUnexpectedEOF, true},
		// an upload's body cut by a reset (seen through toxiproxy's reset_peer, TestFaultS3PartPutResetIT)
		{fmt.Errorf("part 1: %w", &url.Error{Op: "Put", URL: "http://s3/b/k", Err: &net.OpError{Op: "readfrom", Err: &net.OpError{Op: "write", Err: net.ErrClosed}}}), true},
		{&net.OpError{Op: "read", Err: net.ErrClosed}, false}, // not inside a request: a connection ops closed itself
		{errors.New("http: server closed idle connection"), true},
		{errors.New("swift: invalid object name"), false},
		{&statusError{status: 503, retryAfter: time.Second, err: retryHTTPErr(503)}, true},
	} {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

type retryTimeoutErr struct{}

func (retryTimeoutErr) Error() string   { return "i/o timeout" }
func (retryTimeoutErr) Timeout() bool   { return true }
func (retryTimeoutErr) Temporary() bool { return true }

func TestRetryBackoff(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}.WithDefaults()
	for n := 1; n <= 10; n++ {
		step := min(p.Base<<(n-1), p.Max)
		for range 50 {
			if d := p.backoff(n, nil); d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, step/2, step)
			}
		}
	}
	ra := &statusError{status: 429, retryAfter: 3 * time.Second, err: retryHTTPErr(429)}
	if d := p.backoff(1, ra); d != 3*time.Second {
		t.Errorf("Retry-After 3s: backoff %v", d)
	}
	ra.retryAfter = 10 * time.Minute
	if d := p.backoff(1, ra); d != 60*time.Second {
		t.Errorf("Retry-After 10m: backoff %v, want the 60s cap", d)
	}
}

func TestWithRetryListAndDelete(t *testing.T) {
	s := newRetryScripted()
	s.errs["list"] = []error{retryHTTPErr(503), fmt.Errorf("listing: %w", retryHTTPErr(500))}
	s.errs["delete"] = []error{swift.TimeoutError}
	r := Wrap(s, retryFast)
	if objs, err := r.List(context.Background(), ""); err != nil || len(objs) != 1 || s.calls["list"] != 3 {
		t.Errorf("List: %v %v after %d calls", objs, err, s.calls["list"])
	}
	if err := r.Delete(context.Background(), "a"); err != nil || s.calls["delete"] != 2 {
		t.Errorf("Delete: %v after %d calls", err, s.calls["delete"])
	}
	// Permanent errors are returned at once.
	s.errs["delete"] = []error{retryHTTPErr(403)}
	if err := r.Delete(context.Background(), "a"); HTTPStatus(err) != 403 || s.calls["delete"] != 3 {
		t.Errorf("Delete 403: %v after %d calls", err, s.calls["delete"])
	}
	// Attempts are bounded.
	s.errs["list"] = []error{retryHTTPErr(503), retryHTTPErr(503), retryHTTPErr(503), retryHTTPErr(503), retryHTTPErr(503)}
	s.calls["list"] = 0
	if _, err := r.List(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") || s.calls["list"] != 4 {
		t.Errorf("List storm: %v after %d calls", err, s.calls["list"])
	}
	if r.String() != "scripted" || r.(interface{ Unwrap() storage.Store }).Unwrap() != s {
		t.Error("String/Unwrap")
	}
}

func TestWithRetryPutIsNotRetried(t *testing.T) {
	s := newRetryScripted()
	s.errs["put"] = []error{retryHTTPErr(503)}
	r := Wrap(s, retryFast)
	if _, err := r.Put(context.Background(), "a", strings.NewReader("x")); HTTPStatus(err) != 503 || s.calls["put"] != 1 {
		t.Errorf("Put: %v after %d calls", err, s.calls["put"])
	}
}

type retryFlaky struct {
	data    string
	failAt  int // bytes delivered before the error; -1 = never
	err     error
	off     int
	closed  bool
	maxRead int
}

func (f *retryFlaky) Read(p []byte) (int, error) {
	if f.failAt >= 0 && f.off >= f.failAt {
		return 0, f.err
	}
	if f.off >= len(f.data) {
		return 0, io.EOF
	}
	end := len(f.data)
	if f.failAt >= 0 {
		end = min(end, f.failAt)
	}
	n := copy(p[:min(len(p), f.maxRead)], f.data[f.off:end])
	f.off += n
	return n, nil
}

func (f *retryFlaky) Close() error { f.closed = true; return nil }

func TestWithRetryOpen(t *testing.T) {
	reset := &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	s := newRetryScripted()
	s.errs["open"] = []error{retryHTTPErr(503)}
	var readers []*retryFlaky
	s.open = func(n int) io.ReadCloser {
		f := &retryFlaky{data: "hello world", failAt: -1, maxRead: 4}
		if n == 1 {
			f.failAt, f.err = 0, reset // the first body dies before its first byte
		}
		readers = append(readers, f)
		return f
	}
	r := Wrap(s, retryFast)
	rc, err := r.Open(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != "hello world" || s.calls["open"] != 3 || !readers[0].closed {
		t.Errorf("Open: %q %v after %d opens", b, err, s.calls["open"])
	}
	// After the first byte, errors pass through: no silent restart.
	s.opens = 0
	s.open = func(int) io.ReadCloser { return &retryFlaky{data: "hello world", failAt: 5, err: reset, maxRead: 4} }
	rc, _ = r.Open(context.Background(), "a")
	b, err = io.ReadAll(rc)
	if !errors.Is(err, syscall.ECONNRESET) || string(b) != "hello" || s.opens != 1 {
		t.Errorf("mid-stream error: %q %v after %d opens", b, err, s.opens)
	}
	// A missing object is not retried.
	s.errs["open"] = []error{fmt.Errorf("x: %w", storage.ErrNotExist)}
	s.calls["open"] = 0
	if _, err := r.Open(context.Background(), "a"); !errors.Is(err, storage.ErrNotExist) || s.calls["open"] != 1 {
		t.Errorf("missing: %v after %d calls", err, s.calls["open"])
	}
}

func TestWithRetryHonoursContext(t *testing.T) {
	s := newRetryScripted()
	s.errs["list"] = []error{retryHTTPErr(503), retryHTTPErr(503)}
	r := Wrap(s, Policy{Attempts: 5, Base: time.Hour, Max: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.List(ctx, "")
	if HTTPStatus(err) != 503 || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("List under a deadline: %v after %v", err, time.Since(start))
	}
}

func TestWithRetryRetryAfter(t *testing.T) {
	s := newRetryScripted()
	s.errs["list"] = []error{&statusError{status: 429, retryAfter: 200 * time.Millisecond, err: retryHTTPErr(429)}}
	r := Wrap(s, retryFast)
	start := time.Now()
	if _, err := r.List(context.Background(), ""); err != nil || time.Since(start) < 200*time.Millisecond {
		t.Errorf("Retry-After not honoured: %v after %v", err, time.Since(start))
	}
}

type retryOrphanFake struct {
	*retryScripted
	listed int
}

func (f *retryOrphanFake) Orphans(context.Context, string, time.Duration) ([]string, error) {
	f.listed++
	if f.listed == 1 {
		return nil, retryHTTPErr(503)
	}
	return []string{"x"}, nil
}

func (f *retryOrphanFake) DeleteOrphans(context.Context, []string) error { return nil }

func TestWithRetryKeepsOrphans(t *testing.T) {
	if _, ok := Wrap(newRetryScripted(), retryFast).(storage.Orphans); ok {
		t.Error("a store without Orphans gained it")
	}
	f := &retryOrphanFake{retryScripted: newRetryScripted()}
	o, ok := Wrap(f, retryFast).(storage.Orphans)
	if !ok {
		t.Fatal("Orphans lost by the wrapper")
	}
	names, err := o.Orphans(context.Background(), "", time.Minute)
	if err != nil || len(names) != 1 || f.listed != 2 {
		t.Fatalf("Orphans = %v, %v after %d calls", names, err, f.listed)
	}
	if err := o.DeleteOrphans(context.Background(), names); err != nil {
		t.Fatal(err)
	}
}

// statusError carries an HTTP status and a Retry-After, like the Swift
// store's errors.
type statusError struct {
	status     int
	retryAfter time.Duration
	err        error
}

func (e *statusError) Error() string             { return e.err.Error() }
func (e *statusError) Unwrap() error             { return e.err }
func (e *statusError) HTTPStatus() int           { return e.status }
func (e *statusError) RetryAfter() time.Duration { return e.retryAfter }

// A store's own requests: 6 tries unless the policy bounds attempts or time,
// the store's logger unless the policy has one.
func TestForStore(t *testing.T) {
	store := slog.New(slog.DiscardHandler)
	own := slog.New(slog.DiscardHandler)
	if p := (Policy{}).ForStore(store); p.Attempts != 6 || p.Logger != store || p.Base != 500*time.Millisecond {
		t.Errorf("zero policy: %+v", p)
	}
	if p := (Policy{Budget: time.Minute, Logger: own}).ForStore(store); p.Attempts != 0 || p.Logger != own {
		t.Errorf("budget policy: %+v", p)
	}
	if p := (Policy{Attempts: 1}).ForStore(store); p.Attempts != 1 {
		t.Errorf("one try: %+v", p)
	}
}
