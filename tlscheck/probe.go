package tlscheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds one connection (connect, greeting, EHLO, STARTTLS,
// handshake, QUIT) when ProbeOptions.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ProbeOptions configure the SMTP prober.
type ProbeOptions struct {
	Helo    string         // EHLO name; default: the host name
	Roots   *x509.CertPool // trust anchors for ${verify}; nil: system roots
	NoSNI   bool           // do not send SNI
	SNI     string         // send this SNI instead of the server name
	Legacy  bool           // also offer TLS 1.0/1.1, RSA key exchange, 3DES, RC4
	Timeout time.Duration  // per connection; default DefaultTimeout
	// Pins maps "host" or "host:port" to an address, like curl --resolve.
	Pins     map[string]netip.Addr
	Resolver *Resolver // for target names without a pin
	// NoStartTLS skips STARTTLS (sendmail's Try_TLS NO): ${verify} is NONE.
	NoStartTLS bool
	// Implicit forces TLS from the first byte; port 465 implies it.
	Implicit bool
	// Now is the clock for certificate verification (nil: time.Now).
	Now func() time.Time
	// DialContext replaces net.Dialer (tests, proxies).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (o *ProbeOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *ProbeOptions) helo() string {
	if o.Helo != "" {
		return o.Helo
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// Target is a parsed TARGET argument: host[:port].
type Target struct {
	Host string // no trailing dot, no brackets
	Port int
}

func (t Target) String() string {
	if t.Port == 25 || t.Port == 0 {
		return t.Host
	}
	return joinHostPort(t.Host, t.Port)
}

func joinHostPort(h string, p int) string { return net.JoinHostPort(h, strconv.Itoa(p)) }

// ParseTarget parses host[:port] ("mx.example.net", "mx.example.net:587",
// "[2001:db8::1]:25", "192.0.2.1"). The port defaults to 25.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errors.New("empty target")
	}
	host, port := s, 25
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("target %q: invalid port %q", s, p)
		}
		host, port = h, n
	} else if strings.Count(s, ":") > 1 {
		host = s // bare IPv6
	} else if strings.Contains(s, ":") {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return Target{}, fmt.Errorf("target %q: empty host", s)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		for _, l := range strings.Split(host, ".") {
			if l == "" || strings.ContainsAny(l, " /\\@*") {
				return Target{}, fmt.Errorf("target %q: invalid host name", s)
			}
		}
	}
	return Target{Host: strings.ToLower(host), Port: port}, nil
}

// ParsePin parses a curl-style --resolve value HOST:PORT:ADDR (PORT may be
// "*"; ADDR may be bracketed IPv6) into a Pins key and address.
func ParsePin(s string) (string, netip.Addr, error) {
	host, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "", netip.Addr{}, fmt.Errorf("resolve %q: expected HOST:PORT:ADDR", s)
	}
	port, addr, ok := strings.Cut(rest, ":")
	if !ok {
		return "", netip.Addr{}, fmt.Errorf("resolve %q: expected HOST:PORT:ADDR", s)
	}
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("resolve %q: %w", s, err)
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if port == "*" || port == "" {
		return host, a, nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", netip.Addr{}, fmt.Errorf("resolve %q: invalid port %q", s, port)
	}
	return host + ":" + port, a, nil
}

// Addrs returns the addresses to connect to for a target: a pin, an IP
// literal, or every A/AAAA record.
func (o *ProbeOptions) Addrs(ctx context.Context, t Target) ([]netip.Addr, error) {
	if a, ok := o.Pins[t.Host+":"+strconv.Itoa(t.Port)]; ok {
		return []netip.Addr{a}, nil
	}
	if a, ok := o.Pins[t.Host]; ok {
		return []netip.Addr{a}, nil
	}
	if a, err := netip.ParseAddr(t.Host); err == nil {
		return []netip.Addr{a}, nil
	}
	return o.Resolver.LookupHost(ctx, t.Host)
}

// Probe resolves a target and probes every address, in order.
func Probe(ctx context.Context, o ProbeOptions, target string) ([]*Facts, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	addrs, err := o.Addrs(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", t.Host, err)
	}
	var out []*Facts
	for _, a := range addrs {
		out = append(out, ProbeAddr(ctx, o, t, a))
	}
	return out, nil
}

// tlsConfig builds the client configuration. Verification is done by
// VerifyChain afterwards, on the chain exactly as presented.
func (o *ProbeOptions) tlsConfig(serverName string) *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // verified by VerifyChain
	if !o.NoSNI {
		sni := o.SNI
		if sni == "" {
			sni = serverName
		}
		if _, err := netip.ParseAddr(sni); err != nil {
			cfg.ServerName = strings.TrimSuffix(sni, ".")
		}
	}
	if o.Legacy {
		cfg.MinVersion = tls.VersionTLS10
		var ids []uint16
		for _, s := range tls.CipherSuites() {
			ids = append(ids, s.ID)
		}
		for _, s := range tls.InsecureCipherSuites() {
			ids = append(ids, s.ID)
		}
		cfg.CipherSuites = ids
	}
	return cfg
}

// session is one SMTP conversation.
type session struct {
	conn net.Conn
	br   *bufio.Reader
}

func (s *session) cmd(line string) (Reply, error) {
	if _, err := io.WriteString(s.conn, line+"\r\n"); err != nil {
		return Reply{}, err
	}
	return ReadReply(s.br)
}

// ProbeAddr runs one SMTP conversation with addr: wait for the whole 220
// greeting, EHLO, STARTTLS (or TLS first on port 465), handshake, EHLO again,
// QUIT. Each command waits for its reply (no pipelining). The context
// deadline (or o.Timeout) bounds every step. It never returns nil.
func ProbeAddr(ctx context.Context, o ProbeOptions, t Target, addr netip.Addr) *Facts {
	f := &Facts{Target: t.String(), ServerName: t.Host, Port: t.Port, Addr: addr, TriedTLS: !o.NoStartTLS}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	stepErr := func(step string, err error) *Facts {
		if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
			err = fmt.Errorf("%s: %w", step, context.Canceled)
		} else if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%s: timeout after %s: %w", step, time.Since(start).Round(time.Millisecond), context.DeadlineExceeded)
		} else {
			err = fmt.Errorf("%s: %w", step, err)
		}
		f.Err = err
		return f
	}

	dial := o.DialContext
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", joinHostPort(addr.String(), t.Port))
	if err != nil {
		return stepErr("connect", err)
	}
	defer conn.Close()
	conn = withQuickAck(conn)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation (not only the deadline) must unblock reads and writes.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	implicit := o.Implicit || t.Port == 465
	f.ImplicitTLS = implicit
	var captured []*x509.Certificate
	cfg := o.tlsConfig(t.Host)
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		captured = cs.PeerCertificates
		return nil
	}
	handshake := func(raw net.Conn) (*tls.Conn, bool) {
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			if errors.Is(ctx.Err(), context.Canceled) {
				stepErr("TLS handshake", context.Canceled)
				return nil, false
			}
			f.Verify = VerifySoftware
			f.VerifyError = handshakeError(err)
			f.Chain = captured
			f.FillCertFacts()
			return nil, false
		}
		cs := tc.ConnectionState()
		f.TLSVersion = TLSVersionName(cs.Version)
		f.Cipher, f.CipherBits = CipherName(cs.CipherSuite)
		f.Chain = cs.PeerCertificates
		f.Verify, f.VerifyError = VerifyChain(f.Chain, o.Roots, o.now())
		f.FillCertFacts()
		return tc, true
	}

	s := &session{conn: conn, br: bufio.NewReader(conn)}
	if implicit {
		f.TriedTLS = true
		tc, ok := handshake(conn)
		if !ok {
			return f
		}
		s = &session{conn: tc, br: bufio.NewReader(tc)}
	}
	greet, err := ReadReply(s.br)
	if err != nil {
		return stepErr("greeting", err)
	}
	f.Banner = greet
	if greet.Code != 220 {
		quit(ctx, s) // RFC 5321 §3.1: after a 554 greeting the client should still QUIT
		return stepErr("greeting", fmt.Errorf("server refused the session: %s", greet))
	}
	ehlo, err := s.cmd("EHLO " + o.helo())
	if err != nil {
		return stepErr("EHLO", err)
	}
	if ehlo.Code != 250 {
		helo, err := s.cmd("HELO " + o.helo())
		if err != nil {
			return stepErr("HELO", err)
		}
		if helo.Code != 250 {
			quit(ctx, s)
			return stepErr("HELO", fmt.Errorf("rejected: %s", helo))
		}
		if !implicit {
			f.Verify, f.VerifyError = VerifyNone, "EHLO rejected ("+ehlo.String()+"): no STARTTLS without ESMTP"
		}
		quit(ctx, s)
		return f
	}
	if implicit {
		f.TLSExtensions = EHLOExtensions(ehlo)
		quit(ctx, s)
		return f
	}
	f.Extensions = EHLOExtensions(ehlo)
	if o.NoStartTLS {
		f.Verify, f.VerifyError = VerifyNone, "STARTTLS not attempted (Try_TLS NO)"
		quit(ctx, s)
		return f
	}
	if !hasExtension(f.Extensions, "STARTTLS") {
		f.Verify, f.VerifyError = VerifyNone, "STARTTLS not offered"
		quit(ctx, s)
		return f
	}
	st, err := s.cmd("STARTTLS")
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			return stepErr("STARTTLS", err)
		}
		f.Verify, f.VerifyError = VerifyProtocol, "no reply to STARTTLS: "+err.Error()
		return f
	}
	f.StartTLSReply = st
	switch {
	case st.Code == 454:
		f.Verify, f.VerifyError = VerifyTemp, "STARTTLS refused: "+st.String()
		quit(ctx, s)
		return f
	case st.Code != 220:
		f.Verify, f.VerifyError = VerifyProtocol, "STARTTLS refused: "+st.String()
		quit(ctx, s)
		return f
	}
	if n := s.br.Buffered(); n > 0 {
		f.Verify, f.VerifyError = VerifyProtocol, fmt.Sprintf("server sent %d bytes after its STARTTLS reply, before the handshake (STARTTLS injection?)", n)
		return f
	}
	tc, ok := handshake(conn)
	if !ok {
		return f
	}
	ts := &session{conn: tc, br: bufio.NewReader(tc)}
	if ehlo2, err := ts.cmd("EHLO " + o.helo()); err == nil && ehlo2.Code == 250 {
		f.TLSExtensions = EHLOExtensions(ehlo2)
	}
	quit(ctx, ts)
	return f
}

// quit sends QUIT and waits briefly (at most 2 s, never past the context
// deadline) for the reply; errors do not matter.
func quit(ctx context.Context, s *session) {
	if ctx.Err() != nil {
		return
	}
	dl := time.Now().Add(2 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = s.conn.SetDeadline(dl)
	_, _ = s.cmd("QUIT")
}

func handshakeError(err error) string {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return "TLS handshake failed: server did not speak TLS (first bytes " + strconv.Quote(string(rh.RecordHeader[:])) + ")"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return "TLS handshake failed: connection closed by the server"
	}
	return "TLS handshake failed: " + err.Error()
}
