package swift

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ncw/swift/v2"

	"github.com/opsteam/ops/backup/storage/retry"
	"github.com/opsteam/ops/internal/secret"
)

// authError turns a failed authentication into a message that names the
// user and URL, never the key.
func (s *Store) authError(err error) error {
	u := swiftRedactURL(s.opts.AuthURL)
	if code := retry.HTTPStatus(err); code != 0 && code < 500 {
		return &AuthError{User: s.opts.User, URL: u, Status: code, Err: s.scrub(err)}
	}
	return fmt.Errorf("swift: authenticating user %s at %s: %w", s.opts.User, u, s.scrub(err))
}

// scrub makes sure an error never carries the key, whatever a server echoes,
// nor a URL's path and query (secret.RedactURLs: the account, a temporary
// URL's signature; net/http quotes the whole request URL in its errors).
func (s *Store) scrub(err error) error {
	if err == nil {
		return nil
	}
	err = secret.RedactURLs(err)
	if k := s.opts.Key.Reveal(); len(k) >= 3 && strings.Contains(err.Error(), k) {
		return &scrubbedError{msg: strings.ReplaceAll(err.Error(), k, secret.Redacted), err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

func (e *scrubbedError) Unwrap() error { return e.err }

// swiftStatusError adds the Retry-After of a response to a Swift error.
type swiftStatusError struct {
	status     int
	retryAfter time.Duration
	err        error
}

func (e *swiftStatusError) Error() string { return e.err.Error() }

func (e *swiftStatusError) Unwrap() error { return e.err }

func (e *swiftStatusError) HTTPStatus() int { return e.status }

func (e *swiftStatusError) RetryAfter() time.Duration { return e.retryAfter }

func wrapSwiftErr(err error, h swift.Headers) error {
	code := retry.HTTPStatus(err)
	if code == 0 || h == nil {
		return err
	}
	ra := h["Retry-After"]
	if ra == "" {
		return err
	}
	var d time.Duration
	if n, perr := strconv.Atoi(strings.TrimSpace(ra)); perr == nil {
		d = time.Duration(n) * time.Second
	} else if t, perr := http.ParseTime(ra); perr == nil {
		d = time.Until(t)
	}
	if d <= 0 {
		return err
	}
	return &swiftStatusError{status: code, retryAfter: d, err: err}
}

func swiftIsNotFound(err error) bool { return retry.HTTPStatus(err) == http.StatusNotFound }

// segmentRetryable: what a segment, manifest or cleanup request retries.
// Beyond IsTransient: 401 (the token expired; the next try
// re-authenticates), 409 (a conflicting concurrent write) and 422 (the data
// did not reach the server intact; it is still in memory).
func segmentRetryable(err error) bool {
	switch retry.HTTPStatus(err) {
	case 401, 409, 422:
		return true
	}
	return retry.IsTransient(err) || errors.Is(err, errEtagMismatch)
}

var errEtagMismatch = errors.New("the server's ETag differs from the MD5 sent")

// backoffStop ends a retry loop early with an expected error.
type backoffStop struct{ err error }

func (b backoffStop) Error() string { return b.err.Error() }

func (b backoffStop) Unwrap() error { return b.err }

func (b backoffStop) HTTPStatus() int { return 0 }

func unwrapStop(err error) error {
	var b backoffStop
	if errors.As(err, &b) {
		return b.err
	}
	return err
}
