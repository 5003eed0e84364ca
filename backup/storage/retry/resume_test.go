package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsteam/ops/backup/storage"
)

// resumable is a store reader that breaks at the offsets in breaks (with
// the data before the break in the same Read when withData), and resumes
// from the offset it reached; resumeErrs are the results of the next
// Resume calls (nil once used up).
type resumable struct {
	data       string
	off        int
	breaks     []int
	withData   bool
	broken     bool
	resumedAt  []int
	resumeErrs []error
	closed     bool
}

var errReset = fmt.Errorf("read: %w", syscall.ECONNRESET)

func (r *resumable) Read(p []byte) (int, error) {
	if r.broken {
		return 0, errReset
	}
	end := len(r.data)
	if len(r.breaks) > 0 {
		end = r.breaks[0]
	}
	n := copy(p[:min(len(p), 3)], r.data[r.off:end])
	r.off += n
	if r.off == end && len(r.breaks) > 0 {
		r.breaks, r.broken = r.breaks[1:], true
		if r.withData && n > 0 {
			return n, errReset
		}
	}
	if n == 0 && !r.broken {
		return 0, io.EOF
	}
	return n, nil
}

func (r *resumable) Resume(context.Context) error {
	r.resumedAt = append(r.resumedAt, r.off)
	if len(r.resumeErrs) > 0 {
		err := r.resumeErrs[0]
		r.resumeErrs = r.resumeErrs[1:]
		if err != nil {
			return err
		}
	}
	r.broken = false
	return nil
}

func (r *resumable) Close() error { r.closed = true; return nil }

var _ storage.Resumable = (*resumable)(nil)

func openResumable(t *testing.T, p Policy, rd *resumable) (*retryScripted, io.ReadCloser) {
	t.Helper()
	s := newRetryScripted()
	s.open = func(int) io.ReadCloser { return rd }
	rc, err := Wrap(s, p).Open(context.Background(), "job/x.sql.zst")
	if err != nil {
		t.Fatal(err)
	}
	return s, rc
}

var resumeFast = Policy{Budget: time.Minute, Base: time.Millisecond, Max: 2 * time.Millisecond}

// Broken after its first bytes, twice, a resumable read goes on from the
// byte reached each time: one Open, the whole content, no byte twice.
func TestReadResumesWhereItBroke(t *testing.T) {
	for _, withData := range []bool{false, true} {
		t.Run(fmt.Sprintf("errorWithData=%v", withData), func(t *testing.T) {
			rd := &resumable{data: "hello, resumable world", breaks: []int{5, 13}, withData: withData}
			s, rc := openResumable(t, resumeFast, rd)
			b, err := io.ReadAll(rc)
			if err != nil || string(b) != rd.data {
				t.Fatalf("read %q, %v", b, err)
			}
			if fmt.Sprint(rd.resumedAt) != "[5 13]" || s.calls["open"] != 1 {
				t.Errorf("resumed at %v after %d opens, want [5 13] after 1", rd.resumedAt, s.calls["open"])
			}
			if rc.Close() != nil || !rd.closed {
				t.Error("Close not passed on")
			}
		})
	}
}

// A resumption that fails transiently is tried again (same outage); one
// that finds the object changed ends the read at once.
func TestReadResumeFailures(t *testing.T) {
	rd := &resumable{data: "0123456789", breaks: []int{4}, resumeErrs: []error{retryHTTPErr(503), errReset}}
	_, rc := openResumable(t, resumeFast, rd)
	if b, err := io.ReadAll(rc); err != nil || string(b) != rd.data || len(rd.resumedAt) != 3 {
		t.Fatalf("read %q, %v after resumptions at %v", b, err, rd.resumedAt)
	}
	changed := fmt.Errorf("x: %w", storage.ErrChanged)
	rd = &resumable{data: "0123456789", breaks: []int{4}, resumeErrs: []error{changed, nil}}
	_, rc = openResumable(t, resumeFast, rd)
	b, err := io.ReadAll(rc)
	if !errors.Is(err, storage.ErrChanged) || string(b) != "0123" || len(rd.resumedAt) != 1 {
		t.Fatalf("read %q, %v after resumptions at %v; want ErrChanged after one", b, err, rd.resumedAt)
	}
}

// A read that keeps failing is given up once the budget is spent, with an
// error naming the object and the budget; each outage has the whole
// budget (bytes that came through start a new one).
func TestReadResumeBudget(t *testing.T) {
	p := Policy{Budget: 60 * time.Millisecond, Base: time.Millisecond, Max: 5 * time.Millisecond}
	errs := make([]error, 2000) // a few seconds of retries if the budget were ignored
	for i := range errs {
		errs[i] = errReset
	}
	rd := &resumable{data: "0123456789", breaks: []int{4}, resumeErrs: errs}
	_, rc := openResumable(t, p, rd)
	_, err := io.ReadAll(rc)
	var g *GaveUpError
	if !errors.As(err, &g) || g.Budget != p.Budget || g.Elapsed < p.Budget || g.Attempts < 3 ||
		!strings.Contains(err.Error(), "read job/x.sql.zst: still failing after") || !strings.Contains(err.Error(), "the retry budget is 60ms") ||
		!errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("err = %v, want the budget spent and named", err)
	}
	if IsTransient(err) {
		t.Error("a read given up is transient: an outer loop would retry it again")
	}
}

// Do: with a budget, attempts are bounded by time only; a budget of 0 (the
// config's "no retry") tries once.
func TestDoBudget(t *testing.T) {
	s := newRetryScripted()
	for range 2000 {
		s.errs["list"] = append(s.errs["list"], retryHTTPErr(503))
	}
	p := Policy{Budget: 40 * time.Millisecond, Base: time.Millisecond, Max: 4 * time.Millisecond}
	_, err := Wrap(s, p).List(context.Background(), "job/")
	var g *GaveUpError
	if !errors.As(err, &g) || HTTPStatus(err) != 503 || g.Op != "list job/" || g.Elapsed < p.Budget || s.calls["list"] < 3 {
		t.Fatalf("List: %v after %d calls", err, s.calls["list"])
	}
	s.calls["list"] = 0
	if _, err := Wrap(s, FromBudget(0, nil)).List(context.Background(), "job/"); HTTPStatus(err) != 503 || s.calls["list"] != 1 {
		t.Fatalf("budget 0: %v after %d calls, want 1", err, s.calls["list"])
	}
	if p := FromBudget(5*time.Minute, nil).WithDefaults(); p.Attempts != 0 || p.Budget != 5*time.Minute {
		t.Errorf("FromBudget(5m) = %+v", p)
	}
}

// A connection closed before any answer (a proxy whose backend is gone)
// is transient; the clean end of a body is not an error at all.
func TestIsTransientClosedBeforeAnswer(t *testing.T) {
	ue := &url.Error{Op: "Get", URL: "http://swift/x", Err: io.EOF}
	if !IsTransient(ue) || !IsTransient(fmt.Errorf("swift: opening x: %w", ue)) {
		t.Error("a request cut before its answer is not transient")
	}
}
