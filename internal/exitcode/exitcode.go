package exitcode

import "errors"

// The documented exit statuses. They are an API: never renumber them.
const (
	OK          = 0   // success
	CheckFailed = 1   // a check found a problem (policy failure, drift, verification mismatch)
	Usage       = 2   // usage or config error
	Runtime     = 3   // could not complete
	Interrupted = 130 // SIGINT/SIGTERM
)

type classified struct {
	err  error
	code int
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }
func (c *classified) ExitCode() int { return c.code }

// WithCode marks err with an exit status. A nil err stays nil.
func WithCode(err error, code int) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, code: code}
}

// Check marks err as "a check found a problem" (exit 1).
func Check(err error) error { return WithCode(err, CheckFailed) }

// UsageError marks err as a usage or configuration error (exit 2).
func UsageError(err error) error { return WithCode(err, Usage) }

// Marked returns the status err was marked with (the outermost mark in its
// chain); ok is false for an unmarked error. Only this package's marks
// count: another error's ExitCode method (a child process's
// *exec.ExitError, such as the mysql client's exit 1 in a failed replay)
// is not ops' exit status.
func Marked(err error) (code int, ok bool) {
	var c *classified
	if errors.As(err, &c) {
		return c.ExitCode(), true
	}
	return 0, false
}
