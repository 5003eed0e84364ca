package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimeout matches (errors.Is) the error of a run that went past its
// timeout (Job.Timeout, or the d of WithTimeout). Such a run is a failure
// whatever it returned: cmd/ops' exit table maps ErrTimeout to 3 before any
// other rule.
var ErrTimeout = errors.New("timed out")

// TimeoutError is the error of a run that went past its timeout. It matches
// ErrTimeout and context.DeadlineExceeded; Err is what the run itself
// returned once cancelled (often nil or context.DeadlineExceeded).
type TimeoutError struct {
	Timeout time.Duration
	Err     error
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("timed out: still running after its timeout of %s, cancelled", e.Timeout)
	if e.Err != nil && !errors.Is(e.Err, context.DeadlineExceeded) {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns what the run returned.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Is makes a TimeoutError match ErrTimeout and context.DeadlineExceeded.
func (e *TimeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// errPastTimeout is the cancellation cause of a context whose run went past
// its timeout; it tells a timeout from a parent's cancellation (shutdown).
var errPastTimeout = errors.New("the run went past its timeout")

// WithTimeout calls f with ctx bounded by d (d <= 0: no bound). When d
// passes before f returns, onTimeout (if not nil) is called at once, while f
// may still be running (for a log line), f's context is cancelled, and
// whatever f then returns, even nil, is replaced by a *TimeoutError wrapping
// it. A cancellation of ctx itself is not a timeout: f's error is returned
// as is.
func WithTimeout(ctx context.Context, d time.Duration, onTimeout func(), f func(context.Context) error) error {
	if d <= 0 {
		return f(ctx)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, d, errPastTimeout)
	defer cancel()
	timedOut := func() bool { return context.Cause(tctx) == errPastTimeout }
	ran := make(chan struct{})
	stop := context.AfterFunc(tctx, func() {
		defer close(ran)
		if timedOut() && onTimeout != nil {
			onTimeout()
		}
	})
	err := f(tctx)
	started := !stop()
	if started {
		<-ran // onTimeout has its say before the run ends
	}
	if !timedOut() {
		return err
	}
	if !started && onTimeout != nil {
		onTimeout() // f saw Done before the callback was started
	}
	return &TimeoutError{Timeout: d, Err: err}
}
