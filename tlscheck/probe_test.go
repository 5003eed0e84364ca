package tlscheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeConn is the server side of one SMTP connection in a test.
type fakeConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func (f *fakeConn) send(lines ...string) error {
	for _, l := range lines {
		if _, err := f.c.Write([]byte(l + "\r\n")); err != nil {
			return err
		}
	}
	return nil
}

// expect reads one command line and checks its prefix (case-insensitive).
func (f *fakeConn) expect(prefix string) (string, error) {
	_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := f.br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("waiting for %s: %w", prefix, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(strings.ToUpper(line), prefix) {
		return line, fmt.Errorf("got %q, want %s", line, prefix)
	}
	return line, nil
}

// quiet asserts that the client sends nothing for d (no pipelining).
func (f *fakeConn) quiet(d time.Duration) error {
	if f.br.Buffered() > 0 {
		b, _ := f.br.Peek(f.br.Buffered())
		return fmt.Errorf("client sent %q early", b)
	}
	_ = f.c.SetReadDeadline(time.Now().Add(d))
	_, err := f.br.Peek(1)
	_ = f.c.SetReadDeadline(time.Time{})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err == nil {
		b, _ := f.br.Peek(f.br.Buffered())
		return fmt.Errorf("client sent %q early", b)
	}
	return err
}

// startFake runs handler for every connection on 127.0.0.1:0. A handler
// error fails the test (reported from the test goroutine at cleanup).
func startFake(t testing.TB, handler func(f *fakeConn) error) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if err := handler(&fakeConn{t: t, c: c, br: bufio.NewReader(c)}); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, err := range errs {
			t.Errorf("fake server: %v", err)
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// smtpServer is a well-behaved STARTTLS server with knobs for misbehaviour.
type smtpServer struct {
	banner     []string      // greeting lines (without codes); default one line
	bannerGap  time.Duration // delay between greeting lines
	tls        *tls.Config
	offerTLS   bool
	sni        atomic.Value // string: SNI the client sent
	hello      atomic.Value // clientHello: what the client offered
	quitSeen   atomic.Bool
	conns      atomic.Int32
	maxConns   atomic.Int32
	handshakeE atomic.Value
}

// clientHello is what a fake server saw in a ClientHello.
type clientHello struct {
	suites   []uint16
	groups   []tls.CurveID
	versions []uint16
}

func (s *smtpServer) handle(f *fakeConn) error {
	n := s.conns.Add(1)
	defer s.conns.Add(-1)
	for {
		m := s.maxConns.Load()
		if n <= m || s.maxConns.CompareAndSwap(m, n) {
			break
		}
	}
	banner := s.banner
	if len(banner) == 0 {
		banner = []string{"mx.test ESMTP fake"}
	}
	for i, l := range banner {
		sep := "-"
		if i == len(banner)-1 {
			sep = " "
		}
		if err := f.send("220" + sep + l); err != nil {
			return err
		}
		if i < len(banner)-1 && s.bannerGap > 0 {
			if err := f.quiet(s.bannerGap); err != nil {
				return fmt.Errorf("during the greeting: %w", err)
			}
		}
	}
	if _, err := f.expect("EHLO "); err != nil {
		return err
	}
	if err := f.quiet(30 * time.Millisecond); err != nil {
		return fmt.Errorf("after EHLO: %w", err)
	}
	ext := []string{"250-mx.test", "250-PIPELINING"}
	if s.offerTLS {
		ext = append(ext, "250-STARTTLS")
	}
	if err := f.send(append(ext, "250 8BITMIME")...); err != nil {
		return err
	}
	line, err := f.expect("")
	if err != nil {
		return err
	}
	if strings.EqualFold(line, "QUIT") {
		s.quitSeen.Store(true)
		return f.send("221 bye")
	}
	if !strings.EqualFold(line, "STARTTLS") {
		return fmt.Errorf("got %q, want STARTTLS or QUIT", line)
	}
	if err := f.send("220 2.0.0 Ready to start TLS"); err != nil {
		return err
	}
	cfg := s.tls.Clone()
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		s.sni.Store(h.ServerName)
		s.hello.Store(clientHello{suites: h.CipherSuites, groups: h.SupportedCurves, versions: h.SupportedVersions})
		return nil, nil
	}
	tc := tls.Server(f.c, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		s.handshakeE.Store(err.Error())
		return nil // the client may legitimately give up
	}
	tf := &fakeConn{t: f.t, c: tc, br: bufio.NewReader(tc)}
	if _, err := tf.expect("EHLO "); err != nil {
		return err
	}
	if err := tf.send("250-mx.test", "250-AUTH PLAIN LOGIN", "250 8BITMIME"); err != nil {
		return err
	}
	if _, err := tf.expect("QUIT"); err != nil {
		return err
	}
	s.quitSeen.Store(true)
	return tf.send("221 2.0.0 bye")
}

func probeOne(t *testing.T, o ProbeOptions, target string, ap netip.AddrPort) *Facts {
	t.Helper()
	tg, err := ParseTarget(target)
	if err != nil {
		t.Fatal(err)
	}
	tg.Port = int(ap.Port())
	return ProbeAddr(t.Context(), o, tg, ap.Addr())
}

func TestProbeStartTLS(t *testing.T) {
	pki := newPKI(t, "Probe")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notAfter: time.Now().Add(90 * 24 * time.Hour), notBefore: time.Now().Add(-time.Hour)})
	srv := &smtpServer{
		banner:    []string{"mx.example.com ESMTP", "slow greeting, line 2", "line 3"},
		bannerGap: 200 * time.Millisecond,
		offerTLS:  true,
		tls:       &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}},
	}
	ap := startFake(t, srv.handle)
	f := probeOne(t, ProbeOptions{Roots: pki.pool, Helo: "checker.test", Timeout: 5 * time.Second}, "mx.example.com.", ap)
	if f.Err != nil {
		t.Fatal(f.Err)
	}
	if len(f.Banner.Lines) != 3 || f.Banner.Code != 220 {
		t.Errorf("banner %v", f.Banner)
	}
	if f.Verify != VerifyOK || f.TLSVersion != "TLSv1.3" || f.CipherBits < 128 || f.Cipher == "" {
		t.Errorf("verify=%s %q version=%s cipher=%s bits=%d", f.Verify, f.VerifyError, f.TLSVersion, f.Cipher, f.CipherBits)
	}
	if got := srv.sni.Load(); got != "mx.example.com" {
		t.Errorf("SNI %q, want mx.example.com (no trailing dot)", got)
	}
	if !hasExtension(f.TLSExtensions, "AUTH") || hasExtension(f.Extensions, "AUTH") {
		t.Errorf("re-EHLO after TLS not recorded: before %v after %v", f.Extensions, f.TLSExtensions)
	}
	if len(f.Chain) != 2 || f.CertIssuer != "/C=DE/O=Probe/CN=Probe+20Sub+20CA" || f.CNSubject != "mx.example.com" {
		t.Errorf("chain %d issuer %q cn %q", len(f.Chain), f.CertIssuer, f.CNSubject)
	}
	if !srv.quitSeen.Load() {
		t.Error("no QUIT")
	}
	r := Evaluate(f, nil, EvalOptions{})
	if r.Verdict != Pass {
		t.Errorf("verdict %s: %q", r.Verdict, r.Reasons)
	}
}

func TestProbeNoSNI(t *testing.T) {
	pki := newPKI(t, "Probe")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	srv := &smtpServer{offerTLS: true, tls: &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}}
	ap := startFake(t, srv.handle)
	f := probeOne(t, ProbeOptions{Roots: pki.pool, NoSNI: true, Timeout: 5 * time.Second}, "mx.example.com", ap)
	if f.Err != nil || f.Verify != VerifyOK {
		t.Fatalf("%v %s %s", f.Err, f.Verify, f.VerifyError)
	}
	if got := srv.sni.Load(); got != "" {
		t.Errorf("SNI %q sent with NoSNI", got)
	}
}

func TestProbeNoStartTLSOffered(t *testing.T) {
	srv := &smtpServer{}
	ap := startFake(t, srv.handle)
	f := probeOne(t, ProbeOptions{Timeout: 5 * time.Second}, "mx.example.com", ap)
	if f.Err != nil || f.Verify != VerifyNone || !srv.quitSeen.Load() {
		t.Fatalf("err=%v verify=%s quit=%v", f.Err, f.Verify, srv.quitSeen.Load())
	}
}

// Misbehaving peers: each must end in a clear result, within the timeout.
func TestProbeMisbehavingServers(t *testing.T) {
	pki := newPKI(t, "Probe")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	_ = leaf
	greetEHLO := func(f *fakeConn) error {
		if err := f.send("220 mx ESMTP"); err != nil {
			return err
		}
		if _, err := f.expect("EHLO"); err != nil {
			return err
		}
		return f.send("250-mx", "250 STARTTLS")
	}
	tests := []struct {
		name        string
		handler     func(f *fakeConn) error
		timeout     time.Duration
		wantErr     string // substring of Facts.Err ("" = no error)
		wantVerify  string
		wantVErr    string
		maxDuration time.Duration
	}{
		{
			name: "endless slow banner stops at the deadline",
			handler: func(f *fakeConn) error {
				for i := 0; ; i++ {
					if err := f.send(fmt.Sprintf("220-still greeting %d", i)); err != nil {
						return nil
					}
					time.Sleep(50 * time.Millisecond)
				}
			},
			timeout: time.Second, wantErr: "greeting: timeout after", maxDuration: 2 * time.Second,
		},
		{
			name: "endless fast banner stops at the line limit",
			handler: func(f *fakeConn) error {
				for {
					if err := f.send("220-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"); err != nil {
						return nil
					}
				}
			},
			timeout: 10 * time.Second, wantErr: "more than 1000 lines", maxDuration: 3 * time.Second,
		},
		{
			name:    "silence",
			handler: func(f *fakeConn) error { time.Sleep(1500 * time.Millisecond); return nil },
			timeout: 500 * time.Millisecond, wantErr: "greeting: timeout", maxDuration: 1500 * time.Millisecond,
		},
		{
			name:    "dropped after connect",
			handler: func(f *fakeConn) error { return nil },
			timeout: 5 * time.Second, wantErr: "greeting: EOF", maxDuration: time.Second,
		},
		{
			name: "dropped after the greeting",
			handler: func(f *fakeConn) error {
				_ = f.send("220 mx ESMTP")
				_, _ = f.expect("EHLO")
				return nil
			},
			timeout: 5 * time.Second, wantErr: "EHLO: EOF", maxDuration: time.Second,
		},
		{
			name: "greeting 554",
			handler: func(f *fakeConn) error {
				_ = f.send("554-go away", "554 really")
				_, err := f.expect("QUIT")
				return err
			},
			timeout: 5 * time.Second, wantErr: "server refused the session: 554 go away / really", maxDuration: time.Second,
		},
		{
			name: "STARTTLS refused with 454",
			handler: func(f *fakeConn) error {
				if err := greetEHLO(f); err != nil {
					return err
				}
				if _, err := f.expect("STARTTLS"); err != nil {
					return err
				}
				if err := f.send("454 4.7.0 TLS not available due to local problem"); err != nil {
					return err
				}
				_, err := f.expect("QUIT")
				return err
			},
			timeout: 5 * time.Second, wantVerify: VerifyTemp, wantVErr: "454 4.7.0 TLS not available", maxDuration: time.Second,
		},
		{
			name: "STARTTLS answered 502",
			handler: func(f *fakeConn) error {
				if err := greetEHLO(f); err != nil {
					return err
				}
				_, _ = f.expect("STARTTLS")
				_ = f.send("502 5.5.1 not implemented")
				_, err := f.expect("QUIT")
				return err
			},
			timeout: 5 * time.Second, wantVerify: VerifyProtocol, wantVErr: "502", maxDuration: time.Second,
		},
		{
			name: "handshake garbage",
			handler: func(f *fakeConn) error {
				if err := greetEHLO(f); err != nil {
					return err
				}
				_, _ = f.expect("STARTTLS")
				_ = f.send("220 go ahead")
				buf := make([]byte, 512)
				_, _ = f.c.Read(buf) // the ClientHello
				_ = f.send("this is not TLS at all")
				return nil
			},
			timeout: 5 * time.Second, wantVerify: VerifySoftware, wantVErr: "did not speak TLS", maxDuration: time.Second,
		},
		{
			name: "dropped during the handshake",
			handler: func(f *fakeConn) error {
				if err := greetEHLO(f); err != nil {
					return err
				}
				_, _ = f.expect("STARTTLS")
				_ = f.send("220 go ahead")
				buf := make([]byte, 512)
				_, _ = f.c.Read(buf)
				return nil
			},
			timeout: 5 * time.Second, wantVerify: VerifySoftware, wantVErr: "connection closed", maxDuration: time.Second,
		},
		{
			name: "silent handshake",
			handler: func(f *fakeConn) error {
				if err := greetEHLO(f); err != nil {
					return err
				}
				_, _ = f.expect("STARTTLS")
				_ = f.send("220 go ahead")
				time.Sleep(1500 * time.Millisecond)
				return nil
			},
			timeout: 700 * time.Millisecond, wantVerify: VerifySoftware, maxDuration: 1500 * time.Millisecond,
		},
		{
			name: "data injected after the STARTTLS reply",
			handler: func(f *fakeConn) error {
				if err := greetEHLO(f); err != nil {
					return err
				}
				_, _ = f.expect("STARTTLS")
				_, _ = f.c.Write([]byte("220 go ahead\r\n250 injected\r\n"))
				time.Sleep(200 * time.Millisecond)
				return nil
			},
			timeout: 5 * time.Second, wantVerify: VerifyProtocol, wantVErr: "STARTTLS injection", maxDuration: time.Second,
		},
		{
			name: "EHLO rejected, HELO accepted",
			handler: func(f *fakeConn) error {
				_ = f.send("220 old mailer")
				_, _ = f.expect("EHLO")
				_ = f.send("502 what?")
				_, _ = f.expect("HELO")
				_ = f.send("250 hi")
				_, err := f.expect("QUIT")
				return err
			},
			timeout: 5 * time.Second, wantVerify: VerifyNone, wantVErr: "EHLO rejected", maxDuration: time.Second,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ap := startFake(t, tc.handler)
			start := time.Now()
			f := probeOne(t, ProbeOptions{Timeout: tc.timeout}, "mx.example.com", ap)
			if d := time.Since(start); d > tc.maxDuration {
				t.Errorf("took %s, limit %s", d, tc.maxDuration)
			}
			if tc.wantErr != "" {
				if f.Err == nil || !strings.Contains(f.Err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", f.Err, tc.wantErr)
				}
				if f.Checked() {
					t.Error("facts with an error count as checked")
				}
				return
			}
			if f.Err != nil {
				t.Fatalf("unexpected error %v", f.Err)
			}
			if f.Verify != tc.wantVerify || !strings.Contains(f.VerifyError, tc.wantVErr) {
				t.Errorf("verify %s (%q), want %s (%q)", f.Verify, f.VerifyError, tc.wantVerify, tc.wantVErr)
			}
			r := Evaluate(f, nil, EvalOptions{})
			if r.Verdict != Fail || r.Reply == "" {
				t.Errorf("verdict %s reply %q", r.Verdict, r.Reply)
			}
		})
	}
}

// Go refuses TLS 1.0 and 3DES by default; with Legacy the prober offers
// them and reports what was negotiated.
func TestProbeLegacyServer(t *testing.T) {
	pki := newPKI(t, "Legacy")
	leaf := pki.leaf(t, certSpec{cn: "old.example.com", dns: []string{"old.example.com"}, rsaBits: 2048, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	srv := &smtpServer{offerTLS: true, tls: &tls.Config{
		Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)},
		MinVersion:   tls.VersionTLS10, MaxVersion: tls.VersionTLS10,
		CipherSuites: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA},
	}}
	ap := startFake(t, srv.handle)

	f := probeOne(t, ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second}, "old.example.com", ap)
	if f.Err != nil || f.Verify != VerifySoftware {
		t.Fatalf("default client: err=%v verify=%s (%s); Go's defaults should refuse TLS 1.0", f.Err, f.Verify, f.VerifyError)
	}

	f = probeOne(t, ProbeOptions{Roots: pki.pool, Legacy: true, Timeout: 5 * time.Second}, "old.example.com", ap)
	if f.Err != nil || f.Verify != VerifyOK {
		t.Fatalf("legacy client: err=%v verify=%s (%s)", f.Err, f.Verify, f.VerifyError)
	}
	if f.TLSVersion != "TLSv1" || f.Cipher != "DES-CBC3-SHA" || f.CipherBits != 112 {
		t.Errorf("negotiated %s %s %d, want TLSv1 DES-CBC3-SHA 112", f.TLSVersion, f.Cipher, f.CipherBits)
	}
	if !srv.quitSeen.Load() {
		t.Error("no QUIT after the legacy session")
	}
	// sendmail's ENCR:128 refuses 3DES (112 bits).
	r := Evaluate(f, mustPolicy(t, "TLS_Srv:old.example.com VERIFY:128\n"), EvalOptions{})
	if r.Reply != "454 4.7.0 encryption too weak 112 less than 128" {
		t.Errorf("reply %q", r.Reply)
	}
}

// Implicit TLS (port 465 style): TLS first, then the greeting inside it.
func TestProbeImplicitTLS(t *testing.T) {
	pki := newPKI(t, "Implicit")
	leaf := pki.leaf(t, certSpec{cn: "smtps.example.com", dns: []string{"smtps.example.com"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	cfg := &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}
	var quit atomic.Bool
	ap := startFake(t, func(f *fakeConn) error {
		tc := tls.Server(f.c, cfg)
		tf := &fakeConn{t: f.t, c: tc, br: bufio.NewReader(tc)}
		if err := tf.send("220 smtps ready"); err != nil {
			return err
		}
		if _, err := tf.expect("EHLO"); err != nil {
			return err
		}
		_ = tf.send("250-smtps", "250 AUTH PLAIN")
		if _, err := tf.expect("QUIT"); err != nil {
			return err
		}
		quit.Store(true)
		return tf.send("221 bye")
	})
	f := probeOne(t, ProbeOptions{Roots: pki.pool, Implicit: true, Timeout: 5 * time.Second}, "smtps.example.com", ap)
	if f.Err != nil || f.Verify != VerifyOK || !f.ImplicitTLS || !hasExtension(f.TLSExtensions, "AUTH") || !quit.Load() {
		t.Fatalf("err=%v verify=%s implicit=%v ext=%v quit=%v", f.Err, f.Verify, f.ImplicitTLS, f.TLSExtensions, quit.Load())
	}
}

func TestProbeCancel(t *testing.T) {
	ap := startFake(t, func(f *fakeConn) error { time.Sleep(2 * time.Second); return nil })
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	start := time.Now()
	f := ProbeAddr(ctx, ProbeOptions{Timeout: 30 * time.Second}, Target{Host: "mx.example.com", Port: int(ap.Port())}, ap.Addr())
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancel took %s", d)
	}
	if f.Err == nil || !errors.Is(f.Err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", f.Err)
	}
}

func TestParseTargetAndPin(t *testing.T) {
	tests := []struct {
		in   string
		want Target
		err  bool
	}{
		{"mx.example.com", Target{"mx.example.com", 25}, false},
		{"MX.Example.com.:587", Target{"mx.example.com", 587}, false},
		{"[2001:db8::1]:465", Target{"2001:db8::1", 465}, false},
		{"2001:db8::1", Target{"2001:db8::1", 25}, false},
		{"192.0.2.1", Target{"192.0.2.1", 25}, false},
		{"mx.example.com:0", Target{}, true},
		{"mx.example.com:smtp", Target{}, true},
		{"", Target{}, true},
		{"a..b", Target{}, true},
		{"user@example.com", Target{}, true},
	}
	for _, tc := range tests {
		got, err := ParseTarget(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParseTarget(%q) = %+v, %v", tc.in, got, err)
		}
	}
	k, a, err := ParsePin("MX.example.com:25:127.0.0.2")
	if err != nil || k != "mx.example.com:25" || a != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("pin: %q %v %v", k, a, err)
	}
	k, a, err = ParsePin("mx.example.com:*:[::1]")
	if err != nil || k != "mx.example.com" || a != netip.MustParseAddr("::1") {
		t.Errorf("pin v6: %q %v %v", k, a, err)
	}
	if _, _, err := ParsePin("mx.example.com:25"); err == nil {
		t.Error("pin without address accepted")
	}
}
