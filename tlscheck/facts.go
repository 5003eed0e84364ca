package tlscheck

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"
)

// Values of sendmail's ${verify} that this package produces.
const (
	VerifyOK       = "OK"       // chain verified
	VerifyNo       = "NO"       // no certificate presented
	VerifyFail     = "FAIL"     // presented but not verifiable
	VerifyNone     = "NONE"     // STARTTLS not performed (not offered, or Try_TLS NO)
	VerifyTemp     = "TEMP"     // STARTTLS answered 454 (temporarily unavailable)
	VerifyProtocol = "PROTOCOL" // STARTTLS answered with another error
	VerifySoftware = "SOFTWARE" // TLS handshake failed
	VerifyTrusted  = "TRUSTED"  // not trusted by the CA roots, but DANE authenticated the chain (sendmail 8.16+)
)

// Facts is everything a probe learned about one connection. Evaluate judges
// Facts against a policy without any network access.
type Facts struct {
	Target      string     // as given: host[:port]
	ServerName  string     // ${server_name}: the host, no trailing dot
	Port        int        // 25 by default
	Addr        netip.Addr // ${server_addr}; invalid when the probe never connected
	ImplicitTLS bool       // TLS from the first byte (port 465)

	Banner        Reply    // the 220 greeting
	Extensions    []string // EHLO keywords before STARTTLS
	TLSExtensions []string // EHLO keywords after STARTTLS
	StartTLSReply Reply    // reply to STARTTLS (zero with implicit TLS)
	TriedTLS      bool     // false: Try_TLS said NO or STARTTLS not offered

	Verify      string // ${verify}
	VerifyError string // why FAIL/SOFTWARE/PROTOCOL/TEMP, in words
	TLSVersion  string // ${tls_version}: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3
	Cipher      string // ${cipher}: OpenSSL name
	CipherBits  int    // ${cipher_bits}
	KeyExchange string // key exchange group (x25519, secp256r1, …) or RSA
	OCSPStapled bool   // the server stapled an OCSP response

	Chain []*x509.Certificate // as presented, leaf first

	CertSubject string   // ${cert_subject}
	CertIssuer  string   // ${cert_issuer}
	CNSubject   string   // ${cn_subject}
	CNIssuer    string   // ${cn_issuer}
	AltSubject  []string // ${altname_subject}: DNS:…, email:…, IP:…, URI:…
	AltIssuer   []string // ${altname_issuer}
	Peer        PeerCert // leaf details: fingerprints, key, signature

	// Err is set when the probe could not get as far as a TLS decision
	// (connect, greeting or EHLO failed, timeout). Such facts are "not
	// checked".
	Err error
}

// Leaf returns the presented end-entity certificate, or nil.
func (f *Facts) Leaf() *x509.Certificate {
	if f == nil || len(f.Chain) == 0 {
		return nil
	}
	return f.Chain[0]
}

// Checked reports whether the probe got far enough to judge TLS.
func (f *Facts) Checked() bool { return f != nil && f.Err == nil }

// LoadCAFile reads PEM trust anchors. An empty path returns (nil, nil),
// meaning the system roots.
func LoadCAFile(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("read CA file %s: no PEM certificate found", path)
	}
	return pool, nil
}

// VerifyChain computes ${verify} for a presented chain: OK when the leaf
// chains to roots (nil = system roots) through the intermediates as sent,
// at time now; NO without a certificate; FAIL otherwise, with the reason.
// Like sendmail's OpenSSL verification, no host name is checked here.
func VerifyChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) (verify, reason string) {
	if len(chain) == 0 {
		return VerifyNo, "no certificate presented"
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return VerifyFail, describeVerifyError(err, chain[0], now)
	}
	return VerifyOK, ""
}

func describeVerifyError(err error, leaf *x509.Certificate, now time.Time) string {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		if now.After(leaf.NotAfter) {
			return "certificate expired on " + leaf.NotAfter.UTC().Format(time.RFC3339)
		}
		if now.Before(leaf.NotBefore) {
			return "certificate is not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)
		}
		return "a certificate in the chain has expired or is not yet valid"
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		if len(leaf.RawIssuer) > 0 && string(leaf.RawIssuer) == string(leaf.RawSubject) {
			return "self-signed certificate not among the trusted roots"
		}
		return "certificate not trusted: issuer unknown (untrusted CA or missing intermediate)"
	}
	return "certificate not trusted: " + err.Error()
}

// FillCertFacts sets the certificate macros from f.Chain.
func (f *Facts) FillCertFacts() {
	leaf := f.Leaf()
	if leaf == nil {
		return
	}
	f.CertSubject, _ = SendmailDN(leaf.RawSubject)
	f.CertIssuer, _ = SendmailDN(leaf.RawIssuer)
	f.CNSubject, _ = SendmailCN(leaf.RawSubject)
	f.CNIssuer, _ = SendmailCN(leaf.RawIssuer)
	f.AltSubject = AltNames(leaf)
	f.AltIssuer = IssuerAltNames(leaf)
	f.Peer = DescribeCert(leaf)
}

// TLSVersionName is OpenSSL's name for a protocol version.
func TLSVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

type suiteInfo struct {
	name string
	bits int
}

// opensslSuites maps Go's suite IDs to OpenSSL names and
// SSL_CIPHER_get_bits strength (what ${cipher} and ${cipher_bits} show).
var opensslSuites = map[uint16]suiteInfo{
	tls.TLS_AES_128_GCM_SHA256:                        {"TLS_AES_128_GCM_SHA256", 128},
	tls.TLS_AES_256_GCM_SHA384:                        {"TLS_AES_256_GCM_SHA384", 256},
	tls.TLS_CHACHA20_POLY1305_SHA256:                  {"TLS_CHACHA20_POLY1305_SHA256", 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         {"ECDHE-RSA-AES128-GCM-SHA256", 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         {"ECDHE-RSA-AES256-GCM-SHA384", 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       {"ECDHE-ECDSA-AES128-GCM-SHA256", 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       {"ECDHE-ECDSA-AES256-GCM-SHA384", 256},
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   {"ECDHE-RSA-CHACHA20-POLY1305", 256},
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: {"ECDHE-ECDSA-CHACHA20-POLY1305", 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            {"ECDHE-RSA-AES128-SHA", 128},
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            {"ECDHE-RSA-AES256-SHA", 256},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          {"ECDHE-ECDSA-AES128-SHA", 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          {"ECDHE-ECDSA-AES256-SHA", 256},
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         {"ECDHE-RSA-AES128-SHA256", 128},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       {"ECDHE-ECDSA-AES128-SHA256", 128},
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               {"AES128-GCM-SHA256", 128},
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               {"AES256-GCM-SHA384", 256},
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  {"AES128-SHA", 128},
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  {"AES256-SHA", 256},
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               {"AES128-SHA256", 128},
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 {"DES-CBC3-SHA", 112},
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           {"ECDHE-RSA-DES-CBC3-SHA", 112},
	tls.TLS_RSA_WITH_RC4_128_SHA:                      {"RC4-SHA", 128},
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                {"ECDHE-RSA-RC4-SHA", 128},
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              {"ECDHE-ECDSA-RC4-SHA", 128},
}

// CipherName returns OpenSSL's name and strength bits for a suite.
func CipherName(id uint16) (string, int) {
	if s, ok := opensslSuites[id]; ok {
		return s.name, s.bits
	}
	return tls.CipherSuiteName(id), 0
}

// keyProblem describes a weak public key, or "".
func keyProblem(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 {
			return fmt.Sprintf("weak RSA key: %d bits", n)
		}
	case *ecdsa.PublicKey:
		if n := k.Curve.Params().BitSize; n < 256 {
			return fmt.Sprintf("weak ECDSA key: %d bits", n)
		}
	case ed25519.PublicKey:
	}
	return ""
}

func sigProblem(c *x509.Certificate) string {
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		return "certificate signed with " + c.SignatureAlgorithm.String()
	}
	return ""
}
