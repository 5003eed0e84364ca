package tlscheck

import (
	"crypto/tls"
	"slices"
	"testing"
	"time"
)

// The prober's ClientHello is OpenSSL's: the server sees the TLS 1.3 suites
// AES-256-GCM, ChaCha20, AES-128-GCM in that order (crypto/tls would offer
// AES-128 first), then the TLS 1.2 suites in OpenSSL's order, and the groups
// x25519, P-256, P-521, P-384.
func TestClientHelloOpenSSLOrder(t *testing.T) {
	pki := newPKI(t, "Hello")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	cfg := &tls.Config{Certificates: []tls.Certificate{tlsCert(leaf, pki.inter.cert)}}
	srv := &smtpServer{offerTLS: true, tls: cfg}
	ap := startFake(t, srv.handle)
	f := probeOne(t, ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second}, "mx.example.com", ap)
	if f.Err != nil || f.Verify != VerifyOK {
		t.Fatalf("err=%v verify=%s %s", f.Err, f.Verify, f.VerifyError)
	}
	hello, ok := srv.hello.Load().(clientHello)
	if !ok {
		t.Fatal("no ClientHello seen")
	}
	want := append(OpenSSLCipherOrder(false), scsvRenegotiation)
	if !slices.Equal(hello.suites, want) {
		t.Errorf("cipher suites %x, want %x", hello.suites, want)
	}
	if hello.suites[0] != tls.TLS_AES_256_GCM_SHA384 {
		t.Errorf("first suite %x, want TLS_AES_256_GCM_SHA384", hello.suites[0])
	}
	wantGroups := []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP521, tls.CurveP384}
	if !slices.Equal(hello.groups, wantGroups) {
		t.Errorf("groups %v, want %v", hello.groups, wantGroups)
	}
	if !slices.Equal(hello.versions, []uint16{tls.VersionTLS13, tls.VersionTLS12}) {
		t.Errorf("versions %x", hello.versions)
	}
}

// (Go's server picks the suite by its own preference, so only the RSA case
// pins the cipher.) The key exchange group is read from the server's handshake: the TLS 1.3
// key share, the TLS 1.2 ServerKeyExchange, or RSA key transport.
func TestProbeKeyExchange(t *testing.T) {
	pki := newPKI(t, "Kex")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, rsaBits: 2048,
		notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	ecLeaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"},
		notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	tests := []struct {
		name    string
		leaf    *testCert
		cfg     *tls.Config
		legacy  bool
		want    string
		cipher  string
		keyType string
		keyBits int
	}{
		{name: "TLS 1.3 x25519", leaf: ecLeaf, want: "x25519", keyType: "ECDSA", keyBits: 256},
		{name: "TLS 1.3 P-384 after HelloRetryRequest", leaf: ecLeaf, cfg: &tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP384}}, want: "secp384r1", keyType: "ECDSA", keyBits: 256},
		{name: "TLS 1.2 ECDHE P-521", leaf: leaf, cfg: &tls.Config{MaxVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.CurveP521}},
			want: "secp521r1", keyType: "RSA", keyBits: 2048},
		{name: "TLS 1.2 RSA key transport", leaf: leaf, cfg: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
			want: "RSA", cipher: "AES128-GCM-SHA256", keyType: "RSA", keyBits: 2048},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg.Clone()
			if cfg == nil {
				cfg = &tls.Config{}
			}
			cfg.Certificates = []tls.Certificate{tlsCert(tc.leaf, pki.inter.cert)}
			ap := startFake(t, (&smtpServer{offerTLS: true, tls: cfg}).handle)
			f := probeOne(t, ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second, Legacy: tc.legacy}, "mx.example.com", ap)
			if f.Err != nil || f.Verify != VerifyOK {
				t.Fatalf("err=%v verify=%s %s", f.Err, f.Verify, f.VerifyError)
			}
			if f.KeyExchange != tc.want {
				t.Errorf("key exchange %q, want %q", f.KeyExchange, tc.want)
			}
			if tc.cipher != "" && f.Cipher != tc.cipher {
				t.Errorf("cipher %q, want %q", f.Cipher, tc.cipher)
			}
			if f.Peer.KeyType != tc.keyType || f.Peer.KeyBits != tc.keyBits {
				t.Errorf("key %s %d, want %s %d", f.Peer.KeyType, f.Peer.KeyBits, tc.keyType, tc.keyBits)
			}
			if f.Peer.SHA256 != sha256Hex(tc.leaf.cert.Raw) || f.Peer.SPKISHA256 != sha256Hex(tc.leaf.cert.RawSubjectPublicKeyInfo) {
				t.Errorf("fingerprints %s %s", f.Peer.SHA256, f.Peer.SPKISHA256)
			}
		})
	}
}

// The prober asks for an OCSP staple (status_request) and reports whether
// one came, in TLS 1.3 and 1.2.
func TestProbeOCSPStaple(t *testing.T) {
	pki := newPKI(t, "Staple")
	leaf := pki.leaf(t, certSpec{cn: "mx.example.com", dns: []string{"mx.example.com"}, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)})
	for _, tc := range []struct {
		name   string
		staple []byte
		max    uint16
	}{
		{"TLS 1.3 stapled", []byte{0x30, 0x03, 0x0a, 0x01, 0x00}, tls.VersionTLS13},
		{"TLS 1.2 stapled", []byte{0x30, 0x03, 0x0a, 0x01, 0x00}, tls.VersionTLS12},
		{"TLS 1.3 none", nil, tls.VersionTLS13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tlsCert(leaf, pki.inter.cert)
			c.OCSPStaple = tc.staple
			ap := startFake(t, (&smtpServer{offerTLS: true, tls: &tls.Config{Certificates: []tls.Certificate{c}, MaxVersion: tc.max}}).handle)
			f := probeOne(t, ProbeOptions{Roots: pki.pool, Timeout: 5 * time.Second}, "mx.example.com", ap)
			if f.Err != nil || f.Verify != VerifyOK {
				t.Fatalf("err=%v verify=%s %s", f.Err, f.Verify, f.VerifyError)
			}
			if f.OCSPStapled != (tc.staple != nil) {
				t.Errorf("ocsp_stapled %v, want %v", f.OCSPStapled, tc.staple != nil)
			}
		})
	}
}

// serverHelloRecord builds a handshake record holding a TLS 1.3 ServerHello
// with a key_share for group.
func serverHelloRecord(group uint16) []byte {
	var body []byte
	body = append(body, 0x03, 0x03)                                               // legacy_version
	body = append(body, make([]byte, 32)...)                                      // random
	body = append(body, 0)                                                        // session id
	body = append(body, 0x13, 0x02, 0)                                            // TLS_AES_256_GCM_SHA384, null compression
	ext := []byte{0, 43, 0, 2, 0x03, 0x04}                                        // supported_versions: TLS 1.3
	ext = append(ext, 0, 51, 0, 6, byte(group>>8), byte(group), 0, 2, 0xaa, 0xbb) // key_share
	body = append(body, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	msg := append([]byte{2, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 3, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// The sniffer reassembles records and messages that arrive in pieces.
func TestHelloSnifferFragments(t *testing.T) {
	rec := serverHelloRecord(29)
	ccs := []byte{20, 3, 3, 0, 1, 1}
	s := &helloSniffer{}
	for _, b := range append(rec, ccs...) {
		s.feed([]byte{b})
	}
	if s.group != 29 || s.suite != 0x1302 || !s.done {
		t.Errorf("group %d suite %x done %v", s.group, s.suite, s.done)
	}
	if got := s.keyExchange(tls.VersionTLS13, 0x1302); got != "x25519" {
		t.Errorf("key exchange %q", got)
	}
	// A record that is not a handshake ends sniffing; later bytes are ignored.
	s = &helloSniffer{}
	s.feed([]byte{23, 3, 3, 0, 2, 0, 0})
	s.feed(serverHelloRecord(23))
	if s.group != 0 || !s.done {
		t.Errorf("after application data: group %d done %v", s.group, s.done)
	}
}

// FuzzHelloSniffer: the sniffer reads what a server sends before any
// authentication; it must never panic nor grow without bound.
func FuzzHelloSniffer(f *testing.F) {
	f.Add(serverHelloRecord(29), 7)
	f.Add([]byte{22, 3, 3, 0, 4, 12, 0, 0, 3}, 1)
	f.Add([]byte{22, 3, 3, 0, 8, 12, 0, 0, 4, 3, 0, 23, 65}, 3)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		s := &helloSniffer{}
		for len(data) > 0 {
			n := min(chunk, len(data))
			s.feed(data[:n])
			data = data[n:]
		}
		if len(s.rec)+len(s.hs) > 2*sniffLimit {
			t.Fatalf("buffers grew to %d", len(s.rec)+len(s.hs))
		}
		_ = s.keyExchange(tls.VersionTLS12, 0)
	})
}
