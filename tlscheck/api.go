package tlscheck

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrNoRelay is the error of a relay check that did not allow relaying.
var ErrNoRelay = errors.New("client certificate does not allow relaying")

// ErrLint is the error of a lint run that found problems.
var ErrLint = errors.New("policy has entries sendmail misreads")

// ErrConfig matches (errors.Is) every error of Config.Options and an
// unreadable file of LoadPolicy: a policy or CA file named by the
// configuration or a flag that cannot be used. The caller's mistake, not a
// failed check.
var ErrConfig = errors.New("unusable tlscheck policy or CA file")

// configError marks an error as ErrConfig and keeps its message.
type configError struct{ err error }

func (e *configError) Error() string        { return e.err.Error() }
func (e *configError) Unwrap() error        { return e.err }
func (e *configError) Is(target error) bool { return target == ErrConfig }

func asConfigError(err error) error {
	if err == nil || errors.Is(err, ErrConfig) {
		return err
	}
	return &configError{err}
}

// Options builds Check options from the config section: the policy file
// (auto-detected format; none when empty), trust anchors (system roots when
// empty), timeout, concurrency, EHLO name, the DANE resolver and the MTA-STS
// cache. A bad policy or CA file is
// ErrConfig. Targets, recipients, --require, pins and the resolver are the
// caller's to add.
func (c *Config) Options() (Options, error) {
	o := Options{Concurrency: c.Concurrency}
	o.Probe.Timeout = c.Timeout
	o.Probe.Helo = c.Helo
	if c.Policy != "" {
		p, err := LoadPolicy(c.Policy)
		if err != nil {
			return o, asConfigError(err)
		}
		o.Policy = p
	}
	roots, err := LoadCAFile(c.CAFile)
	if err != nil {
		return o, asConfigError(err)
	}
	o.Probe.Roots = roots
	if c.Resolver != "" {
		o.DANE = true
		o.DANEResolver = &Resolver{Addr: c.Resolver}
	}
	stateDir := c.StateDir
	if stateDir == "" {
		stateDir = DefaultStateDir()
	}
	if stateDir != "none" {
		o.STSOptions.Cache = &STSCache{Dir: filepath.Join(stateDir, "mta-sts")}
	}
	return o, nil
}

// LintError is nil without findings, else wraps ErrLint.
func LintError(fs []Finding) error {
	if len(fs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d finding(s)", ErrLint, len(fs))
}

// RelayError is nil for RELAY, else ErrNoRelay.
func RelayError(r RelayResult) error {
	if r.Relay {
		return nil
	}
	return ErrNoRelay
}
