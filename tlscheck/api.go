package tlscheck

import (
	"errors"
	"fmt"

	"github.com/opsteam/ops/internal/exitcode"
)

// ErrNoRelay is the error of a relay check that did not allow relaying.
var ErrNoRelay = errors.New("client certificate does not allow relaying")

// ErrLint is the error of a lint run that found problems.
var ErrLint = errors.New("policy has entries sendmail misreads")

// Options builds Check options from the config section: the policy file
// (auto-detected format; none when empty), trust anchors (system roots when
// empty), timeout, concurrency and EHLO name. A bad policy or CA file is a
// usage/config error (exit 2). Targets, recipients, --require, pins and the
// resolver are the caller's to add.
func (c *Config) Options() (Options, error) {
	o := Options{Concurrency: c.Concurrency}
	o.Probe.Timeout = c.Timeout
	o.Probe.Helo = c.Helo
	if c.Policy != "" {
		p, err := LoadPolicy(c.Policy)
		if err != nil {
			return o, exitcode.UsageError(err)
		}
		o.Policy = p
	}
	roots, err := LoadCAFile(c.CAFile)
	if err != nil {
		return o, exitcode.UsageError(err)
	}
	o.Probe.Roots = roots
	return o, nil
}

// LintError is nil without findings, else ErrLint marked exit 1.
func LintError(fs []Finding) error {
	if len(fs) == 0 {
		return nil
	}
	return exitcode.Check(fmt.Errorf("%w: %d finding(s)", ErrLint, len(fs)))
}

// RelayError is nil for RELAY, else ErrNoRelay marked exit 1.
func RelayError(r RelayResult) error {
	if r.Relay {
		return nil
	}
	return exitcode.Check(ErrNoRelay)
}
