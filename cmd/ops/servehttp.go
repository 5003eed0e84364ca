package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/opsteam/ops/internal/exitcode"
	"github.com/opsteam/ops/internal/schedule"
	"github.com/opsteam/ops/internal/secret"
)

// serveSecurity is the HTTP side of `ops serve` built from serve.*: the
// bearer token and the TLS certificate, read from their files when the
// daemon starts and again at every SIGHUP (a file that cannot be read then
// keeps the previous value). The token is never logged nor printed.
type serveSecurity struct {
	cfg   ServeConfig
	token atomic.Pointer[secret.Secret]
	cert  atomic.Pointer[tls.Certificate]
}

// newServeSecurity reads the token and certificate files; its errors are
// configuration errors (exit 2).
func newServeSecurity(cfg ServeConfig) (*serveSecurity, error) {
	s := &serveSecurity{cfg: cfg}
	if err := s.reload(); err != nil {
		return nil, exitcode.UsageError(err)
	}
	return s, nil
}

// reload reads the token and certificate files again.
func (s *serveSecurity) reload() error {
	var errs []error
	if s.cfg.TokenFile != "" {
		tok, err := readToken(s.cfg.TokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("serve.token_file: %w", err))
		} else {
			s.token.Store(&tok)
		}
	}
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("serve.tls_cert_file %s, serve.tls_key_file %s: %w", s.cfg.TLSCertFile, s.cfg.TLSKeyFile, err))
		} else {
			s.cert.Store(&cert)
		}
	}
	return errors.Join(errs...)
}

// readToken reads a bearer token file: one line, surrounding white space
// removed. Its errors never quote the file's content.
func readToken(path string) (secret.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return secret.Secret{}, err
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return secret.Secret{}, fmt.Errorf("%s is empty", path)
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return secret.Secret{}, fmt.Errorf("%s: the token contains white space or control characters (one line, e.g. from: openssl rand -hex 32)", path)
		}
	}
	return secret.New(string(b)), nil
}

func (s *serveSecurity) secured() bool { return s.cfg.TokenFile != "" || s.cfg.TLSCertFile != "" }

// options are the scheduler's HTTPOptions.
func (s *serveSecurity) options() schedule.HTTPOptions {
	o := schedule.HTTPOptions{NoStatusPage: !s.cfg.StatusPage}
	if s.cfg.TokenFile != "" {
		o.Token = func() secret.Secret { return *s.token.Load() }
	}
	if s.cfg.TLSCertFile != "" {
		o.TLS = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return s.cert.Load(), nil
			},
		}
	}
	return o
}

// checkListen refuses (exit 2, before anything listens) to serve on an
// address that is not loopback without a token or TLS, unless
// --insecure-listen says so; it warns where the endpoints are still weakly
// protected.
func (rt *opsRuntime) checkListen(ctx context.Context, sec *serveSecurity, insecure bool) error {
	addr := rt.cfg.Serve.Listen
	host, _, _ := net.SplitHostPort(addr) // HOST:PORT: checked by Config.Validate
	if loopbackOnly(ctx, host) {
		return nil
	}
	switch {
	case !sec.secured() && !insecure:
		err := &fieldError{Field: "serve.listen", Msg: fmt.Sprintf("%s is not a loopback address: set serve.token_file "+
			"(a bearer token) and/or serve.tls_cert_file with serve.tls_key_file (HTTPS), "+
			"or pass --insecure-listen to serve /metrics and the status page to anyone who can connect", addr)}
		if rt.loaded != nil {
			return exitcode.UsageError(rt.loaded.Locate(err))
		}
		return exitcode.UsageError(err)
	case !sec.secured():
		rt.log.Warn("serving without a token, in plain HTTP, on a non-loopback address (--insecure-listen)", "listen", addr)
	case sec.cfg.TLSCertFile == "":
		rt.log.Warn("the bearer token travels in plain HTTP on a non-loopback address: set serve.tls_cert_file and serve.tls_key_file", "listen", addr)
	}
	return nil
}

// loopbackOnly reports whether host (an address or a name) means loopback
// addresses only; "" (every interface: the resolver refuses it) and names
// that do not resolve do not.
func loopbackOnly(ctx context.Context, host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().IsLoopback()
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.Unmap().IsLoopback() {
			return false
		}
	}
	return true
}
