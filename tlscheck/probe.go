package tlscheck

import (
	"context"
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

	"github.com/opsteam/ops/internal/smtpclient"
	utls "github.com/refraction-networking/utls"
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

// sniName is the SNI to send for serverName: "" for none (NoSNI, or an IP
// address).
func (o *ProbeOptions) sniName(serverName string) string {
	if o.NoSNI {
		return ""
	}
	sni := o.SNI
	if sni == "" {
		sni = serverName
	}
	if _, err := netip.ParseAddr(sni); err == nil {
		return ""
	}
	return strings.TrimSuffix(sni, ".")
}

// session is one SMTP conversation (the protocol layer shared with ops'
// mail notifications).
type session = smtpclient.Session

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
	p := &prober{ctx: ctx, o: &o, f: f, start: time.Now()}

	dial := o.DialContext
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", joinHostPort(addr.String(), t.Port))
	if err != nil {
		return p.stepErr("connect", err)
	}
	defer conn.Close()
	conn = withQuickAck(conn)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation (not only the deadline) must unblock reads and writes.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	p.implicit = o.Implicit || t.Port == 465
	f.ImplicitTLS = p.implicit
	p.sni = o.sniName(t.Host)
	return p.converse(conn)
}

// prober is one ProbeAddr conversation: its options, bounding context and
// the facts being gathered.
type prober struct {
	ctx      context.Context
	o        *ProbeOptions
	f        *Facts
	start    time.Time
	implicit bool                // TLS from the first byte
	sni      string              // SNI for the handshake ("" none)
	captured []*x509.Certificate // the peer's chain, also when the handshake fails
}

// stepErr records that step failed (cancelled, timed out, or err) as
// f.Err and returns f.
func (p *prober) stepErr(step string, err error) *Facts {
	if errors.Is(err, context.Canceled) || errors.Is(p.ctx.Err(), context.Canceled) {
		err = fmt.Errorf("%s: %w", step, context.Canceled)
	} else if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%s: timeout after %s: %w", step, time.Since(p.start).Round(time.Millisecond), context.DeadlineExceeded)
	} else {
		err = fmt.Errorf("%s: %w", step, err)
	}
	p.f.Err = err
	return p.f
}

// converse runs the SMTP conversation on the open connection.
func (p *prober) converse(conn net.Conn) *Facts {
	s := smtpclient.NewSession(conn)
	if p.implicit {
		p.f.TriedTLS = true
		tc, ok := p.handshake(conn)
		if !ok {
			return p.f
		}
		s = smtpclient.NewSession(tc)
	}
	ehlo, ok := p.greetAndEHLO(s)
	if !ok {
		return p.f
	}
	if p.implicit {
		p.f.TLSExtensions = EHLOExtensions(ehlo)
		quit(p.ctx, s)
		return p.f
	}
	p.f.Extensions = EHLOExtensions(ehlo)
	return p.startTLS(conn, s)
}

// greetAndEHLO waits for the 220 greeting and sends EHLO, falling back to
// HELO. ok is false when the conversation is over.
func (p *prober) greetAndEHLO(s *session) (ehlo Reply, ok bool) {
	greet, err := s.Read()
	if err != nil {
		p.stepErr("greeting", err)
		return Reply{}, false
	}
	p.f.Banner = greet
	if greet.Code != 220 {
		quit(p.ctx, s) // RFC 5321 §3.1: after a 554 greeting the client should still QUIT
		p.stepErr("greeting", fmt.Errorf("server refused the session: %s", greet))
		return Reply{}, false
	}
	ehlo, err = s.Cmd("EHLO " + p.o.helo())
	if err != nil {
		p.stepErr("EHLO", err)
		return Reply{}, false
	}
	if ehlo.Code != 250 {
		p.helo(s, ehlo)
		return Reply{}, false
	}
	return ehlo, true
}

// helo tries HELO after EHLO was rejected and ends the conversation: without
// ESMTP there is no STARTTLS.
func (p *prober) helo(s *session, ehlo Reply) {
	helo, err := s.Cmd("HELO " + p.o.helo())
	if err != nil {
		p.stepErr("HELO", err)
		return
	}
	if helo.Code != 250 {
		quit(p.ctx, s)
		p.stepErr("HELO", fmt.Errorf("rejected: %s", helo))
		return
	}
	if !p.implicit {
		p.f.Verify, p.f.VerifyError = VerifyNone, "EHLO rejected ("+ehlo.String()+"): no STARTTLS without ESMTP"
	}
	quit(p.ctx, s)
}

// startTLS upgrades the plain session s on conn: STARTTLS, handshake, EHLO
// again, QUIT.
func (p *prober) startTLS(conn net.Conn, s *session) *Facts {
	f := p.f
	if p.o.NoStartTLS {
		f.Verify, f.VerifyError = VerifyNone, "STARTTLS not attempted (Try_TLS NO)"
		quit(p.ctx, s)
		return f
	}
	if !hasExtension(f.Extensions, "STARTTLS") {
		f.Verify, f.VerifyError = VerifyNone, "STARTTLS not offered"
		quit(p.ctx, s)
		return f
	}
	if !p.sendStartTLS(s) {
		return f
	}
	tc, ok := p.handshake(conn)
	if !ok {
		return f
	}
	ts := smtpclient.NewSession(tc)
	if ehlo2, err := ts.Cmd("EHLO " + p.o.helo()); err == nil && ehlo2.Code == 250 {
		f.TLSExtensions = EHLOExtensions(ehlo2)
	}
	quit(p.ctx, ts)
	return f
}

// sendStartTLS sends STARTTLS and reports whether the server is ready for
// the handshake; if not, the reason is in f.
func (p *prober) sendStartTLS(s *session) bool {
	f := p.f
	st, err := s.Cmd("STARTTLS")
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || p.ctx.Err() != nil {
			p.stepErr("STARTTLS", err)
			return false
		}
		f.Verify, f.VerifyError = VerifyProtocol, "no reply to STARTTLS: "+err.Error()
		return false
	}
	f.StartTLSReply = st
	switch {
	case st.Code == 454:
		f.Verify, f.VerifyError = VerifyTemp, "STARTTLS refused: "+st.String()
		quit(p.ctx, s)
		return false
	case st.Code != 220:
		f.Verify, f.VerifyError = VerifyProtocol, "STARTTLS refused: "+st.String()
		quit(p.ctx, s)
		return false
	}
	if n := s.R.Buffered(); n > 0 {
		f.Verify, f.VerifyError = VerifyProtocol, fmt.Sprintf("server sent %d bytes after its STARTTLS reply, before the handshake (STARTTLS injection?)", n)
		return false
	}
	return true
}

// handshake runs the TLS handshake on raw (OpenSSL's ClientHello, see
// hello.go) and records the session and certificate facts, verifying the
// chain as presented. ok is false when it failed (f says why).
func (p *prober) handshake(raw net.Conn) (tc net.Conn, ok bool) {
	f := p.f
	sniff := &helloSniffer{Conn: raw}
	uc, err := newClient(sniff, p.sni, p.o.Legacy, func(cs utls.ConnectionState) error {
		p.captured = cs.PeerCertificates
		return nil
	})
	if err == nil {
		err = uc.HandshakeContext(p.ctx)
	}
	if err != nil {
		if errors.Is(p.ctx.Err(), context.Canceled) {
			p.stepErr("TLS handshake", context.Canceled)
			return nil, false
		}
		f.Verify = VerifySoftware
		f.VerifyError = handshakeError(err)
		f.Chain = p.captured
		f.FillCertFacts()
		return nil, false
	}
	cs := uc.ConnectionState()
	f.TLSVersion = TLSVersionName(cs.Version)
	f.Cipher, f.CipherBits = CipherName(cs.CipherSuite)
	f.KeyExchange = sniff.keyExchange(cs.Version, cs.CipherSuite)
	f.OCSPStapled = len(cs.OCSPResponse) > 0
	f.Chain = cs.PeerCertificates
	f.Verify, f.VerifyError = VerifyChain(f.Chain, p.o.Roots, p.o.now())
	f.FillCertFacts()
	return uc, true
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
	_ = s.Conn.SetDeadline(dl)
	_, _ = s.Cmd("QUIT")
}

func handshakeError(err error) string {
	var rh utls.RecordHeaderError
	if errors.As(err, &rh) {
		return "TLS handshake failed: server did not speak TLS (first bytes " + strconv.Quote(string(rh.RecordHeader[:])) + ")"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return "TLS handshake failed: connection closed by the server"
	}
	return "TLS handshake failed: " + err.Error()
}
