package secret

import (
	"net/url"
	"reflect"
	"regexp"
	"strings"
)

// RedactURL reduces a URL to its scheme and host: "scheme://host/***" when it
// has anything else (user information, path, query or fragment), the URL
// itself when it has nothing else, and "***" when it is not a URL with a
// host. A webhook's or a temporary URL's secret lives in its path and
// query; its host is what an operator needs to tell which receiver failed.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if raw == "" {
			return ""
		}
		return Redacted
	}
	out := u.Scheme + "://" + u.Host
	if u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		out += "/" + Redacted
	}
	return out
}

// urlInText is what RedactURLs takes for a URL inside an error's text: a
// scheme, "://" and everything up to a space, a quote or an angle bracket
// (net/http quotes the URL of a *url.Error).
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>\x60]+`)

// RedactText replaces every URL in s by its RedactURL form.
func RedactText(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(m string) string {
		// A URL at the end of a sentence or before a colon keeps that
		// punctuation outside.
		trail := ""
		for len(m) > 0 && strings.ContainsRune(".,;:)]}", rune(m[len(m)-1])) {
			trail = m[len(m)-1:] + trail
			m = m[:len(m)-1]
		}
		return RedactURL(m) + trail
	})
}

// RedactURLs returns err with every URL it carries reduced to
// "scheme://host/***" (RedactURL): Go's HTTP client puts the whole request
// URL, path, query and password included, into every *url.Error, so a
// webhook's or a storage's secret would otherwise reach the logs with the
// error. Call it where an error leaves an HTTP client.
//
// The result still wraps the same causes: errors.Is and errors.As see the
// errors of err's chain, except that a *url.Error is a copy whose URL is
// redacted, and an error whose text held a URL is replaced by one with the
// redacted text that wraps what it wrapped. An error without a URL in its
// text is returned as it is.
func RedactURLs(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.Contains(msg, "://") {
		return err
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: RedactURLs(ue.Err)}
	}
	switch w := err.(type) {
	case interface{ Unwrap() error }:
		inner := w.Unwrap()
		if inner == nil {
			break
		}
		red := RedactURLs(inner)
		// The wrapper's own text around the inner one's, each redacted.
		if in := inner.Error(); in != "" && strings.Contains(msg, in) {
			parts := strings.Split(msg, in)
			for i := range parts {
				parts[i] = RedactText(parts[i])
			}
			return &redactedError{msg: strings.Join(parts, red.Error()), err: red, orig: err}
		}
		return &redactedError{msg: RedactText(msg), err: red, orig: err}
	case interface{ Unwrap() []error }:
		var errs []error
		for _, e := range w.Unwrap() {
			errs = append(errs, RedactURLs(e))
		}
		return &redactedJoin{msg: RedactText(msg), errs: errs}
	}
	return &redactedError{msg: RedactText(msg), orig: err}
}

// redactedError is an error whose text had a URL: the redacted text, and
// the (redacted) error it wrapped.
type redactedError struct {
	msg  string
	err  error
	orig error // the error it stands for, for As with a method set
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Unwrap() error { return e.err }

// As lets errors.As find the original error by an interface without an
// Error method (such as interface{ HTTPStatus() int }): what it has beyond
// its text still answers. An interface with Error, or a concrete type,
// finds only redacted errors.
func (e *redactedError) As(target any) bool {
	p := reflect.ValueOf(target)
	if p.Kind() != reflect.Pointer || p.IsNil() {
		return false
	}
	t := p.Elem().Type()
	if t.Kind() != reflect.Interface {
		return false
	}
	if _, hasError := t.MethodByName("Error"); hasError {
		return false
	}
	if !reflect.TypeOf(e.orig).Implements(t) {
		return false
	}
	p.Elem().Set(reflect.ValueOf(e.orig))
	return true
}

type redactedJoin struct {
	msg  string
	errs []error
}

func (e *redactedJoin) Error() string { return e.msg }

func (e *redactedJoin) Unwrap() []error { return e.errs }
